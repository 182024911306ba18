"""``mtx cost``: the command over the cost model (``model.py``: a number of transactions) and the capacity
model (``capacity.py``: a sustained rate, ``--rate N``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich import box
from rich.table import Table

from orchestration.cost import capacity
from orchestration.cost.model import Assumptions, estimate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transactions", type=int, default=1_000_000, help="transactions ingested")
    parser.add_argument("--invalid-share", type=float, default=0.04, help="share of them dead-lettered")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument(
        "--rate",
        type=float,
        action="append",
        metavar="N",
        help="instead: capacity and monthly cost per entrance at N events/s sustained (repeatable; docs/capacity.md)",
    )


def run(args: argparse.Namespace) -> int:
    if args.rate:
        if any(rate <= 0 for rate in args.rate):
            raise SystemExit("mtx cost: --rate must be a positive number of events per second")
        if args.json:
            print(json.dumps([capacity.Plan(rate).estimate() for rate in args.rate], indent=2))
        else:
            print(capacity.report(args.rate))
        return 0
    est = estimate(Assumptions(transactions=args.transactions, invalid_share=args.invalid_share))
    if args.json:
        print(json.dumps(est, indent=2))
        return 0
    print(capacity.render(tables(est)))
    return 0


def tables(est: dict[str, Any]) -> list[Any]:
    """The estimate for people: the prices' source, then one table per path (service, USD), its total last."""
    shown: list[Any] = [
        f"Ingesting {est['transactions']:,} transactions (prices: {est['prices_source']}, as of {est['prices_as_of']})"
    ]
    for title, key in (("per-transaction (API + Express workflow)", "per_transaction_express"),
                       ("batch (file in S3 + Standard workflow)", "batch_file")):  # fmt: skip
        t = Table(box=box.SIMPLE_HEAD, show_edge=False, show_footer=True)
        t.add_column("service", footer="total")
        t.add_column("USD", justify="right", footer=f"${est[key + '_total']:,.2f}")
        for service, usd in est[key].items():
            t.add_row(service, f"${usd:,.4f}")
        shown += ["", title, t]
    return shown
