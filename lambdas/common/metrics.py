"""The pipeline's business metrics, named once: the handlers emit them, the dashboard and the alarms read them.

Every metric the functions publish is declared in ``CATALOGUE`` with its unit, its dimensions, what it
means, which functions emit it, the dashboard widget it is drawn in and, where it pages, its alarm.
``emit`` refuses a name or a dimension the catalogue does not declare, so a handler cannot publish a
metric nobody graphs; ``infra/scripts/monitoring_definition.py`` writes the catalogue as
``infra/terraform/modules/monitoring/metrics.json``, from which Terraform builds the dashboard widgets
and the alarms (a unit test fails when the file drifts from this module, and another when a catalogued
metric is emitted by no function).

Metrics are CloudWatch embedded metric format (EMF) lines printed to stdout by Powertools
(``single_metric``: each datum flushed at once with its own dimensions, so concurrent invocations never
share a metric set); in AWS, Lambda's log group carries them and CloudWatch extracts the metrics.
Every datum has the dimension ``Environment`` (the name prefix); none carries a transaction's value.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from aws_lambda_powertools import single_metric
from aws_lambda_powertools.metrics import MetricUnit

from contracts.config import get_settings

NAMESPACE = "MTX/Pipeline"
ENTRANCES = ("api", "file", "stream")
#: Error classes of a reject by the contract or the shop catalogue (expected: graphed, never paged).
REJECT_REASONS = frozenset(
    {"InvalidTransaction", "ItemNotFound", "ItemNotPurchasable", "PriceMismatch", "LifecycleMoveRefused"}
)


@dataclass(frozen=True)
class Alarm:
    """Page when the metric's ``statistic`` over ``period_seconds`` is ``comparison`` ``threshold``."""

    name: str
    description: str
    runbook: str  # one line: what to do (docs/runbook.md holds the same lines)
    threshold: float
    comparison: str = "GreaterThanThreshold"
    statistic: str = "Sum"
    period_seconds: int = 300
    #: What a period with no datum means: "notBreaching" for counts of bad things (none sent: none
    #: happened), "breaching" where silence itself is the problem (no freshness reported: no refresh ran).
    missing: str = "notBreaching"


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str  # a CloudWatch unit name: Count, Milliseconds, Seconds
    description: str
    dimensions: tuple[str, ...]
    emitted_by: tuple[str, ...]  # function short names (lambdas/<name>/)
    widget: str  # the dashboard widget's title
    statistic: str = "Sum"
    alarm: Alarm | None = None

    def __post_init__(self) -> None:
        if self.alarm is not None and self.dimensions:
            raise ValueError(
                f"{self.name}: an alarmed metric has no dimension but Environment (an alarm cannot SEARCH)"
            )


#: The bulk handlers: a file's chunks and the stream's batches.
BULK = ("process_chunk", "ingest_stream")
#: The functions that write the real-time aggregates through lambdas/common/realtime.py (the catalogue test keeps
#: this true to the code). run_data_checks reconciles the aggregates with the marts once this names a writer
#: (lambdas/run_data_checks/realtime_check.py reconcile_when_written).
REALTIME_WRITERS: tuple[str, ...] = ("store_analytics", "process_chunk", "ingest_stream")

CATALOGUE: tuple[Metric, ...] = (
    Metric("TransactionsReceived", "Count", "Transactions that reached an entrance (parsed or not).",
           ("Entrance",), ("validate_transaction", *BULK, "dead_letter_chunk"),
           "Business flow: in, stored, dead-lettered"),
    Metric("TransactionsStored", "Count", "Transactions stored for the first time (compliance row and analytics copy).",
           ("Entrance",), ("store_analytics", *BULK), "Business flow: in, stored, dead-lettered"),
    Metric("DuplicatesIgnored", "Count", "Re-sent transactions recognised as already stored (stored once, not again).",
           ("Entrance",), BULK, "Business flow: in, stored, dead-lettered"),
    Metric("StaleVersionsIgnored", "Count",
           "Status updates older than the stored version (contracts.lifecycle STALE): nothing written, never "
           "dead-lettered.", ("Entrance",), ("store_compliance",), "Business flow: in, stored, dead-lettered"),
    Metric("TransactionsRejected", "Count",
           "Transactions refused by the contract, the shop catalogue or the lifecycle, by error class (expected: "
           "never pages).",
           ("Entrance", "Reason"), ("validate_transaction", "check_item", "store_compliance", *BULK,
                                    "dead_letter_chunk"),
           "Rejected by reason (expected)"),
    Metric("DeadLettered", "Count",
           "Dead letters sent by a function, by error class (rejects, stuck or failed executions, refused chunks).",
           ("Entrance", "Reason"),
           (*BULK, "dead_letter_chunk", "dead_letter_failed_execution", "sweep_pending"),
           "Dead-lettered by reason"),
    Metric("RecordsQuarantined", "Count",
           "Records kept whole under rejected/ of the raw bucket (over the size cap, or refused by the database).",
           ("Entrance",), (*BULK, "dead_letter_chunk"), "Dead-lettered by reason"),
    Metric("RecordsPerBatch", "Count", "Records in one chunk or stream batch.", ("Entrance",), BULK,
           "Batches: size and stage latency", statistic="Average"),
    Metric("StageLatency", "Milliseconds", "Time one stage took for one transaction or one batch.",
           ("Stage",), ("validate_transaction", "check_item", "enrich_transaction", "store_compliance",
                         "store_analytics", "process_chunk", "ingest_stream"),
           "Batches: size and stage latency", statistic="p95"),
    Metric("StuckSettled", "Count",
           "Transactions or batch runs the sweeper found PENDING past the limit and settled.", (),
           ("sweep_pending",), "Operations: sweeper, archive, redrive",
           alarm=Alarm("stuck-pending", "Transactions or runs stayed PENDING past the sweep limit.",
                       "Read the Stuck dead letters (`mtx dlq list`); find the execution in Step Functions; redrive.",
                       threshold=0)),
    Metric("DeadLettersArchived", "Count", "Dead letters older than the archive age moved to S3.", (),
           ("archive_dead_letters",), "Operations: sweeper, archive, redrive"),
    Metric("FxTableAgeHours", "Count", "Hours since the newest rate date in the FX table the Enrich stage reads.",
           (), ("refresh_fx_rates",), "Operations: sweeper, archive, redrive", statistic="Maximum",
           alarm=Alarm("fx-table-stale", "The FX table's newest rate is over 48 hours old, or no refresh reported.",
                       "Check refresh_fx_rates' logs and MTX_FX_RATES_SOURCE_URL; without a source the table is kept"
                       " as it is and ages: publish one (docs/enrichment.md).", threshold=48, statistic="Maximum",
                       period_seconds=86_400, missing="breaching")),
    # emitted by lambdas/common/realtime.py inside the entrances that call it (store_analytics and the BULK
    # handlers, once they write the rollups; tests/unit/test_metrics_catalogue.py then asks for their names here)
    Metric("RealtimeAggregateWrites", "Count",
           "Real-time rollup transactions by outcome: applied now, or already applied (a retry or a redrive).",
           ("Outcome",), REALTIME_WRITERS, "Real-time aggregates: writes and reconciliation"),
    Metric("RealtimeDifferences", "Count",
           "Game x hour rollups whose real-time aggregates differ from the mart fct_hourly_revenue after a refresh.",
           (), ("run_data_checks",), "Real-time aggregates: writes and reconciliation",
           alarm=Alarm("realtime-aggregates-differ",
                       "The real-time aggregates differ from the marts after an analytics refresh.",
                       "Read run_data_checks' error (game x hour keys and amounts); redrive the dead letters, then"
                       " rerun the refresh; a difference that stays means a writer applied a version twice or not"
                       " at all (docs/lifecycle.md).", threshold=0, period_seconds=3600)),
    Metric("DbtModelsBuilt", "Count", "dbt models built by the last refresh, by outcome.", ("Outcome",),
           ("build_marts",), "Analytics refresh: dbt and data checks"),
    Metric("DbtTestsFailed", "Count", "dbt tests that failed or errored in the last refresh.", (), ("build_marts",),
           "Analytics refresh: dbt and data checks",
           alarm=Alarm("dbt-tests-failed", "dbt tests failed in the analytics refresh.",
                       "Open the dbt run results of the refresh (target/run_results.json in MTX_HOME); fix the model or"
                       " the data; rerun the refresh.", threshold=0, period_seconds=3600)),
    Metric("DataChecksFailed", "Count", "Great Expectations expectations that failed in the last refresh.", (),
           ("run_data_checks",), "Analytics refresh: dbt and data checks",
           alarm=Alarm("data-checks-failed", "Great Expectations checks failed on the marts.",
                       "Open the Data Docs of the run; the failed expectation names the column and rule.",
                       threshold=0, period_seconds=3600)),
    Metric("DataChecksPassed", "Count", "Great Expectations expectations that passed in the last refresh.", (),
           ("run_data_checks",), "Analytics refresh: dbt and data checks"),
    Metric("MartFreshnessMinutes", "Count", "Minutes between the newest event in the marts and the check.", (),
           ("run_data_checks",), "Mart freshness", statistic="Maximum",
           alarm=Alarm("marts-stale", "The marts are more than 26 hours behind, or no refresh reported in a day.",
                       "Check the analytics refresh workflow's last executions and the Glue job's runs.",
                       threshold=1_560, statistic="Maximum", period_seconds=86_400, missing="breaching")),
)  # fmt: skip

BY_NAME = {m.name: m for m in CATALOGUE}


class UnknownMetric(ValueError):
    """A metric or dimension the catalogue does not declare (a programming error, never data)."""


def emit(name: str, value: float = 1, **dimensions: str) -> None:
    """Publish one datum of a catalogued metric with exactly its declared dimensions."""
    metric = BY_NAME.get(name)
    if metric is None:
        raise UnknownMetric(f"metric {name} is not in lambdas/common/metrics.py CATALOGUE")
    if set(dimensions) != set(metric.dimensions):
        raise UnknownMetric(f"metric {name} takes the dimensions {sorted(metric.dimensions)}, got {sorted(dimensions)}")
    with single_metric(
        name=name,
        unit=MetricUnit[metric.unit],
        value=value,
        namespace=NAMESPACE,
        default_dimensions={"Environment": get_settings().name_prefix, **dimensions},
    ):
        pass


@contextmanager
def stage(name: str) -> Iterator[None]:
    """``StageLatency`` of the block (raised or not), in milliseconds, under ``Stage=name``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        emit("StageLatency", round((time.perf_counter() - started) * 1000, 3), Stage=name)


def rejected(entrance: str, reason: str) -> None:
    emit("TransactionsRejected", 1, Entrance=entrance, Reason=reason)


def batch_outcome(
    entrance: str, *, records: int, stored: int, duplicates: int, quarantined: int,
    letters: Iterable[Mapping[str, Any]],
) -> None:  # fmt: skip
    """The metrics of one chunk or stream batch: records in, stored, duplicates, quarantined, and each dead
    letter by its error class (the contract's and the catalogue's also as rejects)."""
    emit("TransactionsReceived", records, Entrance=entrance)
    emit("RecordsPerBatch", records, Entrance=entrance)
    for name, value in (("TransactionsStored", stored), ("DuplicatesIgnored", duplicates),
                        ("RecordsQuarantined", quarantined)):  # fmt: skip
        if value:
            emit(name, value, Entrance=entrance)
    dead_lettered(entrance, letters)


def dead_lettered(entrance: str, letters: Iterable[Mapping[str, Any]]) -> None:
    """Each dead letter sent, by its error class; the contract's and the catalogue's also as rejects."""
    for reason, count in sorted(Counter(str(letter["error"]["Error"]) for letter in letters).items()):
        emit("DeadLettered", count, Entrance=entrance, Reason=reason)
        if reason in REJECT_REASONS:
            emit("TransactionsRejected", count, Entrance=entrance, Reason=reason)


def definition() -> dict[str, Any]:
    """The catalogue as Terraform reads it (infra/terraform/modules/monitoring/metrics.json)."""
    return {"namespace": NAMESPACE, "metrics": [asdict(m) for m in CATALOGUE]}
