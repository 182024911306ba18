"""The flatten job's OpenLineage events, emitted from Python (contracts/lineage.py).

The Spark OpenLineage listener is a jar from Maven Central, which this project cannot fetch; so the job reports
its own runs: START, then COMPLETE or FAIL, with the Glue catalogue table in (rows read) and the curated Parquet
prefix and the warehouse raw table out (row counts in the output statistics facet, schemas as column names and
types). Inside an analytics refresh (``--parent_run_id``: the execution ARN) it also reports the crawl that
catalogued its input (``--crawler_name``): the analytics prefix in, the catalogue table out, with the table's
columns as the catalogue holds them. The AWS crawler is a managed service with no lineage hook of its own; the
job, the refresh's next step, reads what the crawl left. Both runs name the refresh as their parent.
"""

from __future__ import annotations

from typing import Any

from psycopg.conninfo import conninfo_to_dict

from contracts import lineage, warehouse
from glue_jobs.flatten_transactions.arguments import JobArgs
from glue_jobs.flatten_transactions.result import JobResult
from glue_jobs.flatten_transactions.sources import CURATED_PREFIX, split_s3_uri


def configure(args: JobArgs) -> None:
    """The job's transport: ``--openlineage_url`` (Glue jobs get arguments, not environment variables), else
    the standard OpenLineage environment (locally the runtime's, as for the functions)."""
    if args.openlineage_url:
        lineage.configure({"transport": {"type": "http", "url": args.openlineage_url}})


def parent_run_id(args: JobArgs) -> str | None:
    return lineage.run_id(lineage.REFRESH_JOB, args.parent_run_id) if args.parent_run_id else None


def job_run_id(args: JobArgs, run_id: str) -> str:
    return lineage.run_id(lineage.FLATTEN_JOB, args.job_name, run_id)


def _catalogue_table(args: JobArgs) -> tuple[str, str]:
    return lineage.glue_table_dataset(args.database, args.table)


def _warehouse_table(args: JobArgs, dsn: str) -> tuple[str, str]:
    conn = conninfo_to_dict(dsn)
    return lineage.warehouse_dataset(
        str(conn.get("host") or "localhost"), str(conn.get("port") or (5439 if args.redshift_copy_role_arn else 5432)),
        str(conn.get("dbname") or ""), warehouse.RAW_SCHEMA, warehouse.RAW_TABLE,
        redshift=bool(args.redshift_copy_role_arn),
    )  # fmt: skip


def _warehouse_fields() -> list[tuple[str, str]]:
    return [(c.name, c.sql_type) for c in warehouse.COLUMNS]


def crawl_event(args: JobArgs, glue: Any) -> Any | None:
    """The crawl's COMPLETE event (analytics prefix -> catalogue table), when the job runs in a refresh."""
    parent = parent_run_id(args)
    if not parent or not args.crawler_name:
        return None
    table = glue.get_table(DatabaseName=args.database, Name=args.table)["Table"]
    storage = table.get("StorageDescriptor") or {}
    bucket, prefix = split_s3_uri(str(storage.get("Location") or ""))
    columns = [(str(c["Name"]), str(c.get("Type") or "")) for c in storage.get("Columns") or []]
    columns += [(str(c["Name"]), str(c.get("Type") or "")) for c in table.get("PartitionKeys") or []]
    return lineage.run_event(
        "COMPLETE",
        args.crawler_name,  # the crawler's own name is its job's
        lineage.run_id("crawl", args.crawler_name, args.parent_run_id),
        inputs=[lineage.input_dataset(lineage.s3_dataset(bucket, prefix))],
        outputs=[lineage.output_dataset(_catalogue_table(args), fields=columns)],
        parent_run_id=parent,
    )


def started(args: JobArgs, result: JobResult, dsn: str, glue: Any) -> int:
    if not lineage.enabled():
        return 0
    try:
        crawl = crawl_event(args, glue)
    except Exception as exc:  # noqa: BLE001 - the crawl's lineage is best effort; the job goes on
        lineage.logger.warning("no lineage for the crawl (%s)", type(exc).__name__)
        crawl = None
    start = lineage.run_event(
        "START", lineage.FLATTEN_JOB, job_run_id(args, result.run_id),
        inputs=[lineage.input_dataset(_catalogue_table(args))],
        outputs=[lineage.output_dataset(lineage.s3_dataset(args.curated_bucket, CURATED_PREFIX)),
                 lineage.output_dataset(_warehouse_table(args, dsn), fields=_warehouse_fields())],
        parent_run_id=parent_run_id(args), event_time=result.started_at,
    )  # fmt: skip
    return lineage.emit(*([crawl] if crawl is not None else []), start)


def finished(args: JobArgs, result: JobResult, dsn: str, error: BaseException | None) -> int:
    """COMPLETE (row counts: read, curated, loaded into the warehouse) or FAIL (the error's class name)."""
    if not lineage.enabled():
        return 0
    event = lineage.run_event(
        "FAIL" if error is not None else "COMPLETE", lineage.FLATTEN_JOB, job_run_id(args, result.run_id),
        inputs=[lineage.input_dataset(_catalogue_table(args), rows=result.rows_read)],
        outputs=[
            lineage.output_dataset(lineage.s3_dataset(args.curated_bucket, CURATED_PREFIX), rows=result.rows_curated,
                                   files=len(result.curated_objects) or None),
            lineage.output_dataset(_warehouse_table(args, dsn), fields=_warehouse_fields(), rows=result.rows_loaded),
        ],
        parent_run_id=parent_run_id(args), error=error, event_time=result.finished_at,
    )  # fmt: skip
    return lineage.emit(event)
