"""Same-run floors: the work of a path done the simplest way, on the same data and machine.

``parse_validate_copy``: the batch and stream paths' floor. Each line parsed once (orjson), judged by the
contract (the fast accept path, the contract itself for anything else: the same verdicts the product
reaches), the valid rows COPYed into a bare PostgreSQL table (no catalogue check, no idempotent merge, no
analytics copy, no dead letters, no AWS). Its CPU is this thread's (charged as product by the meter), its
PostgreSQL backend's the store's.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import psycopg

from benchmarks.cpu import PRODUCT, Meter, Split
from contracts import InvalidTransaction, Window, validate_transaction
from lambdas.common.fast_contract import Horizon, accept, from_transaction


def parse_validate_copy(meter: Meter, dsn: str, path: Path, received_at: str | None = None) -> tuple[Split, int]:
    """(the floor's split, rows copied)."""
    window = Window.at(received_at)
    horizon = Horizon.of(window)
    with psycopg.connect(dsn) as conn:
        conn.execute("drop table if exists bench_floor")
        conn.execute("create table bench_floor (transaction_id text, user_id text, amount numeric, raw text)")
        conn.commit()
        rows = 0
        with meter.phase() as split, meter.role(PRODUCT):
            with conn.cursor().copy("copy bench_floor from stdin") as copy, path.open("rb") as fh:
                for raw in fh:
                    line = raw.rstrip(b"\n").decode("utf-8", "replace")
                    if not line.strip():
                        continue
                    try:
                        data = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        data = None
                    tx = accept(data, line, horizon) if data is not None else None
                    if tx is None:
                        try:
                            tx = from_transaction(validate_transaction(line, window=window))
                        except InvalidTransaction:
                            continue
                    copy.write_row((tx.transaction_id, tx.user_id, str(tx.amount), line))
                    rows += 1
            conn.commit()
        conn.execute("drop table bench_floor")
    return split, rows
