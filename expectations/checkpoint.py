"""Run every suite against the live stores, build Data Docs, alert once on failure.

``run_checks`` uses an ephemeral GX context (nothing written but the Data Docs
folder): a SQL datasource on the PostgreSQL warehouse (raw table, marts), a
pandas datasource for the S3 analytics objects and the one-row reconciliation
frame. Results of the S3 frame are kept without sample values (it is where a
leaked PII value would sit), so neither Data Docs nor the alert show one.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

from great_expectations.data_context.types.base import ProgressBarsConfig

from contracts.warehouse import RAW_SCHEMA, RAW_TABLE
from expectations import suites
from expectations.inputs import (
    ANALYTICS_PREFIX,
    analytics_frame,
    analytics_records,
    dead_letter_count,
    existing_tables,
    reconciliation_frame,
    sqlalchemy_url,
)
from expectations.offline_docs import make_offline
from expectations.report import CheckReport, FailedExpectation, SuiteSummary, failures_of, publish_alert
from expectations.suites import gx

__all__ = ["DOCS_SITE", "CheckReport", "dead_letter_count", "ephemeral_context", "run_checks"]

DOCS_SITE = "mtx_data_docs"
#: Results name up to 10 offending values; for the S3 frame only key values are kept (see strip_values).
_RESULT_FORMAT: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": 10}
#: Columns whose values may appear in Data Docs and alerts of the S3 frame (ids, never PII).
_SAFE_VALUE_COLUMNS = frozenset({"transaction_id", "version"})
_VALUE_KEYS = (
    "partial_unexpected_list",
    "partial_unexpected_counts",
    "partial_unexpected_index_list",
    "unexpected_list",
)


# --------------------------------------------------------------------------- context
def ephemeral_context(docs_dir: Path) -> Any:
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


def table_asset(datasource: Any, schema: str, table: str) -> Any:
    # GX 1.24 deprecates schema_name in favour of one datasource per schema (search_path);
    # one datasource for the raw schema and the marts schema is simpler and still supported.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*schema_name.*is deprecated", category=DeprecationWarning)
        return datasource.add_table_asset(f"{schema}.{table}", table_name=table, schema_name=schema)


def strip_values(result: Any) -> None:
    """Remove sample values from a validation result (kept: counts, percentages, column names, key values)."""
    for r in result.results:
        kwargs = r.expectation_config.kwargs
        if (
            kwargs.get("column") in _SAFE_VALUE_COLUMNS
            or set(kwargs.get("column_list") or ["-"]) <= _SAFE_VALUE_COLUMNS
        ):
            continue
        for key in _VALUE_KEYS:
            if isinstance(r.result, dict):
                r.result.pop(key, None)
        if isinstance(r.result, dict) and isinstance(r.result.get("details"), dict):
            r.result["details"].pop("value_counts", None)


def restore_stripped(context: Any, result: Any) -> None:
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
    context = ephemeral_context(docs)
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
    raw_asset = table_asset(sql, raw_schema, raw_table)
    add(suites.warehouse_raw_suite(raw_schema, raw_table), raw_asset.add_batch_definition_whole_table("all"))

    # Marts (SQL) + reconciliation (one-row frame)
    if marts_schema is not None:
        mart_suites = suites.marts_suites(marts_schema)
        present = existing_tables(warehouse_dsn, marts_schema, mart_suites)
        for mart, suite in mart_suites.items():
            if mart not in present:
                failures.append(
                    FailedExpectation(
                        suite.name, "table_exists", None, {"table": f"{marts_schema}.{mart}", "exists": False}
                    )
                )
                continue
            asset = table_asset(sql, marts_schema, mart)
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
            strip_values(result)
            restore_stripped(context, result)
        failed = failures_of(result)
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
