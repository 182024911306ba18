"""The daily FX table of the local stack (the document ``lambdas/common/enrich/fx.py`` reads), from the dbt seed
``dbt/seeds/exchange_rates.csv``: one source of rates, so the pipeline's ``amount_usd`` and any check in the
warehouse agree. In AWS the scheduled ``refresh_fx_rates`` function publishes the same document."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from orchestration.settings import REPO_ROOT

SEED = REPO_ROOT / "dbt" / "seeds" / "exchange_rates.csv"


def fx_document(seed: Path = SEED) -> dict[str, Any]:
    rates: dict[str, dict[str, str]] = {}
    with seed.open(newline="") as f:
        for row in csv.DictReader(f):
            rates.setdefault(row["currency"], {})[row["rate_date"]] = row["usd_per_unit"]
    return {"base": "USD", "source": "dbt/seeds/exchange_rates.csv", "rates": rates}
