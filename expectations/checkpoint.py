"""Run every suite against the live stores, build Data Docs, alert once on failure.

``run_checks`` uses an ephemeral GX context (nothing written but the Data Docs
folder): a SQL datasource on the PostgreSQL warehouse (raw table, marts), a
pandas datasource for the S3 analytics objects and the one-row reconciliation
frame. Results of the S3 frame are kept without sample values (it is where a
leaked PII value would sit), so neither Data Docs nor the alert show one.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

from contracts.warehouse import COLUMNS, RAW_SCHEMA, RAW_TABLE
from expectations import suites
from expectations.offline_docs import make_offline
from expectations.suites import gx

DOCS_SITE = "mtx_data_docs"
ANALYTICS_PREFIX = "transactions/"
#: The compliance count: a SECURITY DEFINER function owned by the migrator (compliance migration 003),
#: the one thing of that database the analytics reader may use; it returns a number, no row.
COMPLIANCE_COUNT_FUNCTION = "integrity.transaction_count"
_SNS_LIMIT = 200_000  # bytes; SNS allows 256 KiB
#: Results name up to 10 offending values; for the S3 frame only key values are kept (see _strip_values).
_RESULT_FORMAT: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": 10}
#: Columns whose values may appear in Data Docs and alerts of the S3 frame (ids, never PII).
_SAFE_VALUE_COLUMNS = frozenset({"transaction_id"})
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VALUE_KEYS = (
    "partial_unexpected_list",
    "partial_unexpected_counts",
    "partial_unexpected_index_list",
    "unexpected_list",
)


@dataclass(frozen=True)
class FailedExpectation:
    suite: str
    expectation_type: str
    column: str | None
    observed_value: Any
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        col = f" column={self.column}" if self.column else ""
        return f"[{self.suite}] {self.expectation_type}{col} observed={json.dumps(self.observed_value, default=str)}"


@dataclass(frozen=True)
class SuiteSummary:
    suite: str
    success: bool
    evaluated: int
    failed: int


@dataclass
class CheckReport:
    success: bool
    docs_index: Path | None
    suites: list[SuiteSummary]
    failures: list[FailedExpectation]
    alert_message_id: str | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Machine-readable summary (JSON-serialisable)."""
        return {
            "success": self.success,
            "docs_index": str(self.docs_index) if self.docs_index else None,
            "suites": [asdict(s) for s in self.suites],
            "failures": [asdict(f) for f in self.failures],
            "alert_message_id": self.alert_message_id,
            "seconds": round(self.seconds, 3),
        }

    def failed_expectation_types(self, suite_prefix: str = "") -> set[tuple[str, str | None]]:
        return {(f.expectation_type, f.column) for f in self.failures if f.suite.startswith(suite_prefix)}


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


def _qualified(name: str) -> str:
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
    for col in suites.ANALYTICS_COLUMNS:  # an empty bucket still has the columns
        if frame.empty and col not in frame.columns:
            frame[col] = pd.Series(dtype="object")
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

    raw, marts = _qualified(raw_table), _qualified(marts_schema)
    with psycopg.connect(warehouse_dsn) as conn:
        raw_rows, raw_amount = conn.execute(f"select count(*), coalesce(sum(price_amount), 0) from {raw}").fetchone()  # type: ignore[misc]
        fct_rows, fct_amount, fct_usd = conn.execute(
            "select count(*), coalesce(sum(amount), 0), coalesce(sum(case when is_completed then amount_usd end), 0)"
            f" from {marts}.fct_transactions"
        ).fetchone()  # type: ignore[misc]
        daily_rows, daily_usd = conn.execute(
            f"select coalesce(sum(transaction_count), 0), coalesce(sum(revenue_usd), 0) from {marts}.fct_daily_revenue"
        ).fetchone()  # type: ignore[misc]
    with psycopg.connect(compliance_dsn) as conn:
        # None: the reader's way, the counts function; a table (a test's own copy): count(*) as its owner
        count_sql = (
            f"select {_qualified(COMPLIANCE_COUNT_FUNCTION)}()"
            if compliance_table is None
            else f"select count(*) from {_qualified(compliance_table)}"
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
    }
    return pd.DataFrame([row], columns=list(suites.RECONCILIATION_COLUMNS))


def _existing_tables(warehouse_dsn: str, schema: str, names: Iterable[str]) -> set[str]:
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


# --------------------------------------------------------------------------- context
def _context(docs_dir: Path) -> Any:
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm on stderr
    for name in list(context.variables.data_docs_sites or {}):  # the default site points at a temp dir
        context.delete_data_docs_site(name)
    context.add_data_docs_site(
        site_name=DOCS_SITE,
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    return context


def _table_asset(datasource: Any, schema: str, table: str) -> Any:
    # GX 1.24 deprecates schema_name in favour of one datasource per schema (search_path);
    # one datasource for the raw schema and the marts schema is simpler and still supported.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*schema_name.*is deprecated", category=DeprecationWarning)
        return datasource.add_table_asset(f"{schema}.{table}", table_name=table, schema_name=schema)


def _strip_values(result: Any) -> None:
    """Remove sample values from a validation result (kept: counts, percentages, column names, key values)."""
    for r in result.results:
        if r.expectation_config.kwargs.get("column") in _SAFE_VALUE_COLUMNS:
            continue
        for key in _VALUE_KEYS:
            if isinstance(r.result, dict):
                r.result.pop(key, None)
        if isinstance(r.result, dict) and isinstance(r.result.get("details"), dict):
            r.result["details"].pop("value_counts", None)


def _failures(result: Any) -> list[FailedExpectation]:
    suite = result.suite_name
    out: list[FailedExpectation] = []
    for r in result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        kwargs = dict(cfg.kwargs)
        res = r.result if isinstance(r.result, dict) else {}
        details: dict[str, Any] = {}
        if r.exception_info and r.exception_info.get("raised_exception"):
            details["exception"] = str(r.exception_info.get("exception_message"))[:500]
        if "observed_value" in res:
            observed: Any = res["observed_value"]
        elif "unexpected_count" in res:
            observed = {
                "unexpected_count": res.get("unexpected_count"),
                "unexpected_percent": res.get("unexpected_percent"),
            }
        else:
            observed = None
        if isinstance(res.get("details"), dict) and "mismatched" in res["details"]:
            details["observed_columns"] = observed
            observed = details["mismatched"] = res["details"]["mismatched"]  # what is extra / missing
        if res.get("partial_unexpected_list"):
            details["sample_unexpected"] = res["partial_unexpected_list"][:10]
        column = kwargs.get("column") or (",".join(kwargs["column_list"]) if kwargs.get("column_list") else None)
        out.append(FailedExpectation(suite, cfg.type, column, _jsonable(observed), _jsonable(details)))
    return out


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# --------------------------------------------------------------------------- main
def run_checks(
    *,
    warehouse_dsn: str,
    compliance_dsn: str,
    s3: Any,
    analytics_bucket: str,
    docs_dir: str | Path,
    dead_letter_count: int = 0,
    sns: Any = None,
    alerts_topic_arn: str | None = None,
    analytics_prefix: str = ANALYTICS_PREFIX,
    raw_schema: str = RAW_SCHEMA,
    raw_table: str = RAW_TABLE,
    marts_schema: str | None = suites.MARTS_SCHEMA,
    compliance_table: str | None = None,
) -> CheckReport:
    """Validate S3 analytics objects, the warehouse raw table and the marts; build Data Docs; alert once.

    ``marts_schema=None`` skips the marts and the reconciliation (e.g. before dbt ran).
    A mart table that does not exist counts as a failure. Returns a ``CheckReport``:
    ``success`` is False when any expectation failed; ``docs_index`` is the Data Docs
    ``index.html``; ``summary()`` is the machine-readable form (also sent in the alert).
    """
    t0 = time.monotonic()
    docs = Path(docs_dir).resolve()
    docs.mkdir(parents=True, exist_ok=True)
    context = _context(docs)
    sql = context.data_sources.add_postgres("warehouse", connection_string=sqlalchemy_url(warehouse_dsn))
    frames = context.data_sources.add_pandas("frames")
    runs: list[tuple[Any, Any, dict[str, Any], bool]] = []  # (suite, batch def, params, strip)

    def add(suite: Any, batch_def: Any, params: dict[str, Any] | None = None, strip: bool = False) -> None:
        runs.append((context.suites.add(suite), batch_def, params or {}, strip))

    failures: list[FailedExpectation] = []

    # S3 analytics objects (pandas)
    frame = analytics_frame(analytics_records(s3, analytics_bucket, analytics_prefix))
    extra = [c for c in frame.columns if c not in suites.ANALYTICS_COLUMNS and frame[c].dtype == object]
    s3_batch = frames.add_dataframe_asset("s3_analytics_objects").add_batch_definition_whole_dataframe("all")
    add(suites.analytics_objects_suite(extra), s3_batch, {"dataframe": frame}, strip=True)

    # Warehouse raw table (SQL)
    raw_asset = _table_asset(sql, raw_schema, raw_table)
    add(suites.warehouse_raw_suite(raw_schema, raw_table), raw_asset.add_batch_definition_whole_table("all"))

    # Marts (SQL) + reconciliation (one-row frame)
    if marts_schema is not None:
        mart_suites = suites.marts_suites(marts_schema)
        present = _existing_tables(warehouse_dsn, marts_schema, mart_suites)
        for mart, suite in mart_suites.items():
            if mart not in present:
                failures.append(
                    FailedExpectation(
                        suite.name, "table_exists", None, {"table": f"{marts_schema}.{mart}", "exists": False}
                    )
                )
                continue
            asset = _table_asset(sql, marts_schema, mart)
            add(suite, asset.add_batch_definition_whole_table("all"))
        if {"fct_transactions", "fct_daily_revenue"} <= present:
            recon = reconciliation_frame(
                warehouse_dsn,
                compliance_dsn,
                dead_letter_count,
                raw_table=f"{raw_schema}.{raw_table}",
                marts_schema=marts_schema,
                compliance_table=compliance_table,
            )
            recon_batch = frames.add_dataframe_asset("reconciliation").add_batch_definition_whole_dataframe("all")
            add(suites.reconciliation_suite(dead_letter_count), recon_batch, {"dataframe": recon})

    summaries: list[SuiteSummary] = []
    for suite, batch_def, params, strip in runs:
        vd = context.validation_definitions.add(gx.ValidationDefinition(name=suite.name, data=batch_def, suite=suite))
        result = vd.run(batch_parameters=params or None, result_format=_RESULT_FORMAT)
        if strip:
            _strip_values(result)
            _restore(context, result)
        failed = _failures(result)
        failures += failed
        summaries.append(SuiteSummary(suite.name, bool(result.success), len(result.results), len(failed)))
    for name in {f.suite for f in failures} - {s.suite for s in summaries}:  # missing tables
        summaries.append(SuiteSummary(name, False, 0, sum(1 for f in failures if f.suite == name)))

    context.build_data_docs(site_names=[DOCS_SITE])
    make_offline(docs)  # the CDN assets vendored: the site renders with no network
    index = docs / "index.html"
    report = CheckReport(
        success=not failures,
        docs_index=index if index.exists() else None,
        suites=summaries,
        failures=failures,
    )
    if failures and sns is not None and alerts_topic_arn:
        report.alert_message_id = publish_alert(sns, alerts_topic_arn, report)
    report.seconds = time.monotonic() - t0
    return report


def _restore(context: Any, result: Any) -> None:
    """Overwrite the stored validation result with its value-free copy (Data Docs render the store).

    Each suite is validated once per (ephemeral) context, so its name finds its one stored result.
    """
    store = context.validation_results_store
    replaced = 0
    for key in store.list_keys():
        suite_id = getattr(key, "expectation_suite_identifier", None)
        if suite_id is not None and getattr(suite_id, "name", None) == result.suite_name:
            store.set(key, result)
            replaced += 1
    if replaced != 1:  # never build docs from a result that may hold values
        raise RuntimeError(f"expected one stored result of {result.suite_name}, found {replaced}")


def alert_message(report: CheckReport) -> dict[str, Any]:
    failures = [asdict(f) for f in report.failures]
    msg: dict[str, Any] = {
        "source": "mtx-pipeline/great-expectations",
        "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "success": report.success,
        "failed_count": len(failures),
        "failed_expectations": failures,
        "lines": [f.line() for f in report.failures],
        "suites": [asdict(s) for s in report.suites],
        "data_docs": str(report.docs_index) if report.docs_index else None,
    }
    while len(json.dumps(msg, default=str).encode()) > _SNS_LIMIT and msg["failed_expectations"]:
        msg["failed_expectations"] = msg["failed_expectations"][: len(msg["failed_expectations"]) // 2]
        msg["lines"] = msg["lines"][: len(msg["lines"]) // 2]
        msg["truncated"] = True
    return msg


def publish_alert(sns: Any, topic_arn: str, report: CheckReport) -> str:
    """Publish ONE SNS message listing every failed expectation; returns its MessageId."""
    suites_failed = sorted({f.suite for f in report.failures})
    subject = f"MTX data checks failed: {len(report.failures)} expectation(s) in {len(suites_failed)} suite(s)"
    body = json.dumps(alert_message(report), default=str, indent=1)
    return str(sns.publish(TopicArn=topic_arn, Subject=subject[:100], Message=body)["MessageId"])


def dead_letter_count(sqs: Any, queue_url: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs.get("ApproximateNumberOfMessages", 0)) + int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))


def run_checks_on_stack(stack: Any, docs_dir: str | Path, **overrides: Any) -> CheckReport:
    """``run_checks`` with every input taken from a started ``LocalStack`` (overridable)."""
    settings = stack.require_settings()
    kwargs: dict[str, Any] = {
        "warehouse_dsn": stack.dsn("warehouse"),
        "compliance_dsn": stack.dsn("compliance"),
        "s3": stack.client("s3"),
        "analytics_bucket": settings.analytics_bucket,
        "sns": stack.client("sns"),
        "alerts_topic_arn": settings.alerts_topic_arn,
        "docs_dir": docs_dir,
    }
    kwargs.update(overrides)
    if "dead_letter_count" not in kwargs:
        kwargs["dead_letter_count"] = dead_letter_count(stack.client("sqs"), stack.dead_letter_queue_url)
    return run_checks(**kwargs)
