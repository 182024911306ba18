"""Write the business metrics catalogue (lambdas/common/metrics.py) as the monitoring module's metrics.json.

    python infra/scripts/monitoring_definition.py          # write
    python infra/scripts/monitoring_definition.py --check  # exit 1 if the file drifted (`make check` runs it)

Terraform (infra/terraform/modules/monitoring/business.tf) builds the business dashboard widgets and the
alarms from that file, so the handlers, the dashboard and the alarms read one definition.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from lambdas.common.metrics import definition  # noqa: E402
from orchestration.generated import write_or_check  # noqa: E402

TARGET = REPO / "infra" / "terraform" / "modules" / "monitoring" / "metrics.json"


def render() -> str:
    return json.dumps(definition(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    return write_or_check(
        TARGET, render, "python infra/scripts/monitoring_definition.py", __doc__.splitlines()[0], argv
    )


if __name__ == "__main__":
    raise SystemExit(main())
