"""Every currency the sample-data generator sends has a dated USD rate in the dbt seed, for every month the
seed covers: a currency without one is left out of revenue_usd (the mart's `every_purchase_has_an_exchange_rate`
test warned on every `make run` while the Middle East region paid in AED and the seed had no AED)."""

from __future__ import annotations

import csv
from collections import defaultdict

import pytest

from orchestration.sample_data import world
from orchestration.settings import REPO_ROOT

pytestmark = pytest.mark.unit


def test_every_generated_currency_has_a_rate_for_every_seeded_month() -> None:
    with (REPO_ROOT / "dbt" / "seeds" / "exchange_rates.csv").open() as f:
        rows = list(csv.DictReader(f))
    months: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        months[row["currency"]].add(row["rate_date"])
    every_month = set().union(*months.values())
    generated = {c for weighted in world.REGION_CURRENCY.values() for c in weighted.values}
    assert generated, "the generator names its currencies"
    assert {c for c in generated if months.get(c) != every_month} == set()
