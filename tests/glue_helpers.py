"""Builders shared by the Glue tests: contract Transactions, analytics records, partitions on disk / in S3."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from contracts import Transaction, to_analytics_record
from glue_jobs.flatten_transactions import run

DAY = "2025-02-09"
INGESTED_AT = dt.datetime(2025, 2, 9, 12, 35, 0, 123456, tzinfo=dt.UTC)


def make_tx(n: int | str, **overrides: Any) -> Transaction:
    """A valid contract Transaction; overrides replace top-level or ``a.b`` nested wire fields."""
    data: dict[str, Any] = {
        "transactionId": f"tx-{n}",
        "user_id": f"user_{n}",
        "game": "Path Of Exile 2",
        "item_purchased": {
            "item_id": "mtx_abyssal_wings",
            "item_name": "Abyssal Wings",
            "item_type": "cosmetic",
            "price": {"currency": "USD", "amount": Decimal("10.99")},
        },
        "payment_details": {
            "payment_method": "credit_card",
            "card_last4": "1234",
            "transaction_status": "completed",
            "gateway": "Stripe",
        },
        "event_timestamp": f"{DAY}T12:34:56Z",
        "server_region": "EU-West",
        "client_ip": "192.168.1.1",
    }
    for path, value in overrides.items():
        node = data
        *parents, leaf = path.split(".")
        for key in parents:
            node = node[key]
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return Transaction.model_validate(data)


def record(tx: Transaction, ingested_at: dt.datetime = INGESTED_AT) -> dict[str, Any]:
    return to_analytics_record(tx, ingested_at)


def write_partition(
    root: Path, day: str, records: list[dict[str, Any]] | list[str], name: str = "batch-run1-0.ndjson"
) -> Path:
    """NDJSON (or one JSON object when a single record) under root/transactions/dt=<day>/<name>."""
    folder = root / "transactions" / f"dt={day}"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r, separators=(",", ":")) for r in records]
    (folder / name).write_text("\n".join(lines) + "\n")
    return folder


def read(spark: SparkSession, root: Path) -> DataFrame:
    folders = sorted(str(p) for p in (root / "transactions").glob("dt=*"))
    return run.read_transactions(spark, folders, str(root / "transactions"))


def put_records(s3: Any, bucket: str, day: str, records: list[dict[str, Any]], name: str | None = None) -> None:
    """As the pipeline writes them: one object per transaction, or one NDJSON batch file when named."""
    if name is not None:
        body = "\n".join(json.dumps(r, separators=(",", ":")) for r in records) + "\n"
        s3.put_object(Bucket=bucket, Key=f"transactions/dt={day}/{name}", Body=body.encode())
        return
    for r in records:
        key = f"transactions/dt={day}/{r['transactionId']}.json"
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(r, separators=(",", ":")).encode())
