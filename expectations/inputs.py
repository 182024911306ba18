"""The data checks' inputs: the S3 analytics objects as a frame, the reconciliation totals, the warehouse's
tables, the dead-letter count. Plain reads; nothing of Great Expectations."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

from contracts.warehouse import COLUMNS, RAW_SCHEMA, RAW_TABLE
from expectations import suites

ANALYTICS_PREFIX = "transactions/"
#: The compliance count: a SECURITY DEFINER function owned by the migrator (compliance migration 003),
#: the one thing of that database the analytics reader may use; it returns a number, no row.
COMPLIANCE_COUNT_FUNCTION = "integrity.transaction_count"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --------------------------------------------------------------------------- inputs
def sqlalchemy_url(dsn: str) -> str:
    """A libpq URL (``postgresql://...``) or key=value DSN as a SQLAlchemy psycopg2 URL."""
    for prefix in ("postgresql+psycopg2://", "postgresql+psycopg://"):
        if dsn.startswith(prefix):
            return dsn
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+psycopg2://" + dsn[len(prefix) :]
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy.engine import URL

    info = conninfo_to_dict(dsn)

    def get(key: str) -> str | None:
        value = info.get(key)
        return None if value in (None, "") else str(value)

    port = get("port")
    return URL.create(
        "postgresql+psycopg2",
        username=get("user"),
        password=get("password"),
        host=get("host"),
        port=int(port) if port else None,
        database=get("dbname"),
        # TLS options (sslmode verify-full and its CA bundle in AWS) carry over as libpq query parameters
        query={k: v for k in ("sslmode", "sslrootcert") if (v := get(k)) is not None},
    ).render_as_string(hide_password=False)


def qualified(name: str) -> str:
    parts = name.split(".")
    if not all(_IDENT.match(p) for p in parts):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


_RENAMES: dict[str, str] = {
    **{c.source: c.name for c in COLUMNS if c.source},
    **{".".join(p): p[-1] for p in suites.PII_FIELDS},
}


def flatten_record(doc: dict[str, Any]) -> dict[str, Any]:
    """An analytics record (nested wire form) with warehouse column names; unknown/PII paths kept by name."""
    return {_RENAMES.get(k, k): v for k, v in _flatten(doc).items()}


_DT = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})/")


def analytics_records(s3: Any, bucket: str, prefix: str = ANALYTICS_PREFIX) -> list[dict[str, Any]]:
    """Every record of the analytics objects under ``prefix`` (``*.json``: one object; ``*.ndjson``: lines)."""
    records: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if not key.endswith((".json", ".ndjson")):
                continue
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
            docs = [json.loads(body)] if key.endswith(".json") else [json.loads(x) for x in body.splitlines() if x]
            m = _DT.search(key)
            for doc in docs:
                flat = flatten_record(doc)
                flat["source_partition"] = m.group(1) if m else None
                flat["source_key"] = key
                records.append(flat)
    return records


def analytics_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(list(records))
    for col in suites.ANALYTICS_COLUMNS:  # an empty bucket still has the columns; objects stored before the
        if col not in frame.columns:  # Enrich stage have none of its fields (their not-null checks name a missing one)
            frame[col] = pd.Series([None] * len(frame), dtype="object")
    for c in COLUMNS:  # a field with a contract default (version) is what the Glue job loads for an object without it
        if c.default is not None and c.name in frame.columns:
            frame[c.name] = frame[c.name].astype("object").where(frame[c.name].notna(), json.loads(c.default))
    return frame


def reconciliation_frame(
    warehouse_dsn: str,
    compliance_dsn: str,
    dead_letter_count: int,
    *,
    raw_table: str = f"{RAW_SCHEMA}.{RAW_TABLE}",
    marts_schema: str = suites.MARTS_SCHEMA,
    compliance_table: str | None = None,
) -> pd.DataFrame:
    """The one-row frame of totals the reconciliation suite checks."""
    import psycopg

    raw, marts = qualified(raw_table), qualified(marts_schema)
    with psycopg.connect(warehouse_dsn) as conn:
        # the transactions of the raw table: its current versions (one row per transaction_id, the highest version)
        raw_rows, raw_amount = conn.execute(
            f"select count(*), coalesce(sum(price_amount), 0) from {raw} as r where not exists"
            f" (select 1 from {raw} as l where l.transaction_id = r.transaction_id and l.version > r.version)"
        ).fetchone()  # type: ignore[misc]
        fct_rows, fct_amount, fct_usd = conn.execute(
            "select count(*), coalesce(sum(amount), 0), coalesce(sum(case when is_completed then amount_usd end), 0)"
            f" from {marts}.fct_transactions"
        ).fetchone()  # type: ignore[misc]
        daily_rows, daily_usd = conn.execute(
            f"select coalesce(sum(transaction_count), 0), coalesce(sum(revenue_usd), 0) from {marts}.fct_daily_revenue"
        ).fetchone()  # type: ignore[misc]
        # net revenue by hour = the transactions' net; net = gross - refunded on every row of both revenue marts
        hourly_net, identity = conn.execute(
            f"select (select coalesce(sum(net_usd), 0) from {marts}.fct_hourly_revenue),"
            " (select coalesce(sum(abs(net_usd - (gross_usd - refunded_usd))), 0) from"
            f" (select net_usd, gross_usd, refunded_usd from {marts}.fct_daily_revenue"
            f" union all select net_usd, gross_usd, refunded_usd from {marts}.fct_hourly_revenue) as revenue_rows)"
        ).fetchone()  # type: ignore[misc]
    with psycopg.connect(compliance_dsn) as conn:
        # None: the reader's way, the counts function; a table (a test's own copy): count(*) as its owner
        count_sql = (
            f"select {qualified(COMPLIANCE_COUNT_FUNCTION)}()"
            if compliance_table is None
            else f"select count(*) from {qualified(compliance_table)}"
        )
        (compliance_rows,) = conn.execute(count_sql).fetchone()  # type: ignore[misc]
    row = {
        "raw_rows": int(raw_rows),
        "fct_transactions_rows": int(fct_rows),
        "compliance_rows": int(compliance_rows),
        "dead_letter_count": int(dead_letter_count),
        "raw_minus_fct_rows": int(raw_rows) - int(fct_rows),
        "compliance_minus_fct_rows": int(compliance_rows) - int(fct_rows),
        "daily_revenue_minus_fct_usd": float(daily_usd - fct_usd),
        "daily_transaction_count_minus_fct_rows": int(daily_rows) - int(fct_rows),
        "raw_amount_minus_fct_amount": float(raw_amount - fct_amount),
        "hourly_net_minus_fct_usd": float(hourly_net - fct_usd),
        "revenue_net_minus_gross_less_refunded_usd": float(identity),
    }
    return pd.DataFrame([row], columns=list(suites.RECONCILIATION_COLUMNS))


def existing_tables(warehouse_dsn: str, schema: str, names: Iterable[str]) -> set[str]:
    import psycopg

    wanted = list(names)
    if not wanted:
        return set()
    # an IN list, not `= any(%s)` with an array: Redshift has no arrays (dbt/scripts/redshift_gate.py)
    placeholders = ", ".join(["%s"] * len(wanted))
    with psycopg.connect(warehouse_dsn) as conn:
        rows = conn.execute(
            "select table_name from information_schema.tables"
            f" where table_schema = %s and table_name in ({placeholders})",
            (schema, *wanted),
        ).fetchall()
    return {r[0] for r in rows}


def newest_event_at(warehouse_dsn: str, marts_schema: str = suites.MARTS_SCHEMA) -> Any:
    """The newest transaction the marts hold (``fct_transactions.event_at``), None when they are empty:
    how far behind the marts are (the MartFreshnessMinutes metric)."""
    import psycopg

    with psycopg.connect(warehouse_dsn) as conn:
        row = conn.execute(f"select max(event_at) from {qualified(marts_schema)}.fct_transactions").fetchone()
    return row[0] if row else None


def dead_letter_count(sqs: Any, queue_url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs.get("ApproximateNumberOfMessages", 0)) + int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))
