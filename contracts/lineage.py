"""OpenLineage events of the pipeline: dataset names, run ids, event building and emitting, shared by every producer.

Who emits what (docs/lineage.md): the batch ingest (SplitFile START, FinalizeRun COMPLETE/FAIL: the raw file in,
the compliance table and the analytics prefix out), the Glue flatten job (its own START/COMPLETE/FAIL with row
counts, and the crawl it read the catalogue of), BuildMarts (dbt, through openlineage-dbt's artifact processor)
and CheckData (data-quality assertions). The analytics refresh's execution is the parent run of the crawl, the
job and dbt: every child's ``parent`` facet names it.

Transport: the standard OpenLineage configuration, read by the client itself from the environment
(``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG``, ``OPENLINEAGE__TRANSPORT...``, ``OPENLINEAGE_DISABLED``) or given
explicitly (:func:`configure`, the Glue job's ``--openlineage_url``). With no configuration nothing is emitted (the
client would print to the console; we stay silent). Emitting never fails the caller: a transport error is logged
with its class name and the event dropped.

No personal data: events carry dataset names, schema facets (column names and types) and counts, never a value.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from contracts.config import get_settings

logger = logging.getLogger("mtx.lineage")

PRODUCER = "https://github.com/mtx-pipeline/mtx-pipeline/tree/main/contracts/lineage.py"
#: Job names (namespace: the stack's name prefix, Settings.name_prefix).
BATCH_INGEST_JOB = "batch_ingest"
REFRESH_JOB = "analytics_refresh"
FLATTEN_JOB = "flatten_transactions"
DATA_CHECKS_JOB = "data_checks"
#: Run ids are UUIDs derived from the pipeline's own ids (batch run id, execution ARN, Glue run id), so that a
#: START and its COMPLETE emitted by different functions, and a child and its parent, agree without a store.
_RUN_NAMESPACE = uuid.UUID("7f3c2a4e-5b1d-4e8a-9c6f-2d0b8e1a4c37")

_lock = threading.Lock()
_client: dict[str, Any] = {}


def run_id(*parts: str) -> str:
    """The OpenLineage run id (a UUID) of a pipeline run named by ``parts``."""
    return str(uuid.uuid5(_RUN_NAMESPACE, "/".join(parts)))


def namespace() -> str:
    """The jobs' namespace: the stack's name prefix (``mtx-local``, ``mtx-prod``...)."""
    return get_settings().name_prefix


# --------------------------------------------------------------------------------------------- datasets
def s3_dataset(bucket: str, path: str) -> tuple[str, str]:
    """OpenLineage naming for S3: namespace ``s3://<bucket>``, name the key or prefix (no trailing slash)."""
    return f"s3://{bucket}", path.strip("/") or "/"


def glue_table_dataset(database: str, table: str) -> tuple[str, str]:
    """OpenLineage naming for a Glue Data Catalog table."""
    s = get_settings()
    return f"arn:aws:glue:{s.region}:{s.account_id}", f"table/{database}/{table}"


def warehouse_dataset(
    host: str, port: int | str, dbname: str, schema: str, table: str, *, redshift: bool
) -> tuple[str, str]:
    """OpenLineage naming for a warehouse table, as openlineage-dbt names it (so the Glue job's output is dbt's
    source): ``postgres://host:port`` or ``redshift://host:port``, name ``database.schema.table``."""
    return f"{'redshift' if redshift else 'postgres'}://{host}:{port}", f"{dbname}.{schema}.{table}"


def compliance_dataset(table: str = "compliance.transactions") -> tuple[str, str]:
    """The compliance store's table. Named by the database instance (``<prefix>-compliance``), not its host:
    FinalizeRun, which reports the batch, holds no database credential (least privilege)."""
    return f"postgres://{get_settings().name_prefix}-compliance", f"compliance.{table}"


# --------------------------------------------------------------------------------------------- events
def schema_facet(fields: Iterable[tuple[str, str]]) -> Any:
    from openlineage.client.facet_v2 import schema_dataset

    return schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name=name, type=kind) for name, kind in fields]
    )


def input_dataset(
    ns_name: tuple[str, str],
    *,
    fields: Iterable[tuple[str, str]] = (),
    rows: int | None = None,
    assertions: Sequence[Mapping[str, Any]] = (),
) -> Any:
    """An input dataset: schema (names and types), input statistics (rows read), data-quality assertions (the
    expectation's name, its column, success; never an observed value)."""
    from openlineage.client.event_v2 import InputDataset
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq
    from openlineage.client.facet_v2 import input_statistics_input_dataset

    fields = list(fields)
    facets = {"schema": schema_facet(fields)} if fields else {}
    input_facets: dict[str, Any] = {}
    if rows is not None:
        input_facets["inputStatistics"] = input_statistics_input_dataset.InputStatisticsInputDatasetFacet(rowCount=rows)
    if assertions:
        input_facets["dataQualityAssertions"] = dq.DataQualityAssertionsDatasetFacet(
            assertions=[
                dq.Assertion(assertion=str(a["assertion"]), success=bool(a["success"]), column=a.get("column"))
                for a in assertions
            ]
        )
    return InputDataset(namespace=ns_name[0], name=ns_name[1], facets=facets, inputFacets=input_facets)


def output_dataset(
    ns_name: tuple[str, str],
    *,
    fields: Iterable[tuple[str, str]] = (),
    rows: int | None = None,
    files: int | None = None,
) -> Any:
    """An output dataset: schema (names and types), output statistics (row and file counts)."""
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset

    fields = list(fields)
    facets: dict[str, Any] = {"schema": schema_facet(fields)} if fields else {}
    output_facets: dict[str, Any] = (
        {"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=rows, fileCount=files)}
        if rows is not None or files is not None
        else {}
    )  # fmt: skip
    return OutputDataset(namespace=ns_name[0], name=ns_name[1], facets=facets, outputFacets=output_facets)


def parent_facet(parent_run_id: str, parent_job: str = REFRESH_JOB) -> Any:
    from openlineage.client.facet_v2 import parent_run

    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=parent_run_id),
        job=parent_run.Job(namespace=namespace(), name=parent_job),
    )


def run_event(
    event_type: str,
    job: str,
    run: str,
    *,
    inputs: Sequence[Any] = (),
    outputs: Sequence[Any] = (),
    parent_run_id: str | None = None,
    parent_job: str = REFRESH_JOB,
    error: BaseException | str | None = None,
    event_time: dt.datetime | None = None,
    processing_type: str = "BATCH",
) -> Any:
    """One RunEvent (START, RUNNING, COMPLETE, FAIL, ABORT). A failure carries the error's class name (or the
    given error name) only: a message may quote a value."""
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import error_message_run, job_type_job

    run_facets: dict[str, Any] = {}
    if parent_run_id:
        run_facets["parent"] = parent_facet(parent_run_id, parent_job)
    if error is not None:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error if isinstance(error, str) else type(error).__name__, programmingLanguage="PYTHON"
        )
    job_type = job_type_job.JobTypeJobFacet(processingType=processing_type, integration="MTX", jobType="JOB")
    return RunEvent(
        eventType=RunState[event_type],
        eventTime=(event_time or dt.datetime.now(dt.UTC)).isoformat(),
        run=Run(runId=run, facets=run_facets),
        job=Job(namespace=namespace(), name=job, facets={"jobType": job_type}),
        inputs=list(inputs),
        outputs=list(outputs),
        producer=PRODUCER,
    )


# --------------------------------------------------------------------------------------------- emitting
def configure(config: Mapping[str, Any] | None) -> None:
    """Use this OpenLineage configuration (``{"transport": {...}}``) instead of the environment's; None: the
    environment's again (the Glue job's ``--openlineage_url``; tests)."""
    with _lock:
        _client.clear()
        if config is not None:
            _client["config"] = dict(config)


def client() -> Any | None:
    """The OpenLineage client of this process, or None when no transport is configured (or OpenLineage is
    disabled): then nothing is emitted."""
    with _lock:
        if "client" not in _client:
            _client["client"] = _make_client(_client.get("config"))
        return _client["client"]


def _make_client(config: dict[str, Any] | None) -> Any | None:
    try:
        from openlineage.client import OpenLineageClient
        from openlineage.client.transport.console import ConsoleTransport
        from openlineage.client.transport.noop import NoopTransport
    except ModuleNotFoundError:  # a bundle without the client: lineage is off, the pipeline runs on
        logger.warning("openlineage-python is not installed: no lineage events")
        return None
    try:
        made = OpenLineageClient(config=config) if config else OpenLineageClient()
    except Exception as exc:  # noqa: BLE001 - a bad lineage configuration must not stop the pipeline
        logger.warning("OpenLineage configuration unusable (%s): no lineage events", type(exc).__name__)
        return None
    explicit = bool(made.config.transport)
    if isinstance(made.transport, NoopTransport) or (isinstance(made.transport, ConsoleTransport) and not explicit):
        return None  # disabled, or the client's fallback when nothing is configured: stay silent
    return made


def enabled() -> bool:
    return client() is not None


def emit(*events: Any) -> int:
    """Emit the events; returns how many went out. Never raises."""
    made = client()
    if made is None:
        return 0
    sent = 0
    for event in events:
        try:
            made.emit(event)
            sent += 1
        except Exception as exc:  # noqa: BLE001 - lineage is best effort: the data path goes on
            logger.warning("lineage event not emitted (%s)", type(exc).__name__)
    return sent
