"""Write the business metrics catalogue (lambdas/common/metrics.py) as the monitoring module's metrics.json.

    python infra/scripts/monitoring_definition.py          # write
    python infra/scripts/monitoring_definition.py --check  # exit 1 if the file drifted (`make check` runs it)

Terraform (infra/terraform/modules/monitoring/business.tf) builds the business dashboard widgets and the
alarms from that file, so the handlers, the dashboard and the alarms read one definition.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from lambdas.common.metrics import definition  # noqa: E402

TARGET = REPO / "infra" / "terraform" / "modules" / "monitoring" / "metrics.json"


def render() -> str:
    return json.dumps(definition(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run `python infra/scripts/monitoring_definition.py`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
