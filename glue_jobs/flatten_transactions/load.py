"""The warehouse load: the tables the job writes, bookmarks and run records, and the merge of a
run's rows into the raw table in one transaction.

On PostgreSQL the staging table is filled by COPY FROM STDIN of the curated Parquet the run just
wrote (pyarrow batches -> CSV, on the driver). Redshift has no COPY FROM STDIN: with
``--redshift_copy_role_arn`` it is filled by Redshift's own
``COPY ... FROM 's3://<curated>/transactions/dt=.../' FORMAT AS PARQUET``. Then
``delete ... using staging`` + ``insert ... select`` (the Redshift merge pattern, keyed by
``contracts.warehouse.PRIMARY_KEY``: one row per (transaction_id, version); a row is only replaced
by one of the same version ingested at the same time or later, never by another version) and the
bookmarks, committed together.
Before any of it, ``ensure_warehouse`` adds the contract columns a raw table created under an
older contract lacks (evolve.py).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.warehouse import COLUMNS, PRIMARY_KEY, RAW_SCHEMA, RAW_TABLE, raw_table_ddl
from glue_jobs.flatten_transactions.arguments import JobArgs, JobArgumentError
from glue_jobs.flatten_transactions.evolve import evolve_primary_key, evolve_table
from glue_jobs.flatten_transactions.sources import CURATED_PREFIX, utc

if TYPE_CHECKING:
    from glue_jobs.flatten_transactions.result import JobResult

WAREHOUSE_TABLE = f"{RAW_SCHEMA}.{RAW_TABLE}"
ETL_SCHEMA = "etl"
BOOKMARKS_TABLE = f"{ETL_SCHEMA}.job_bookmarks"
RUNS_TABLE = f"{ETL_SCHEMA}.job_runs"
STAGE_TABLE = "mtx_transactions_stage"


def warehouse_dsn(args: JobArgs, secrets: Any | None) -> str:
    """``--warehouse_dsn`` (local), else the secret (host, port, username, password, dbname)."""
    if args.warehouse_dsn:
        return args.warehouse_dsn
    if not args.warehouse_secret_id or secrets is None:
        raise JobArgumentError("give --warehouse_secret_id (AWS) or --warehouse_dsn (local)")
    from psycopg.conninfo import make_conninfo

    secret = json.loads(secrets.get_secret_value(SecretId=args.warehouse_secret_id)["SecretString"])
    return make_conninfo(
        host=secret["host"],
        port=str(secret.get("port", 5432)),
        user=secret["username"],
        password=secret["password"],
        dbname=secret.get("dbname") or secret.get("database", ""),
        connect_timeout="10",
        application_name="mtx-glue-flatten",
    )


def warehouse_ddl(engine: str = "postgres") -> tuple[str, ...]:
    """The schemas and tables the job writes; on Redshift the raw table carries its dist/sort keys."""
    return (
        f"create schema if not exists {RAW_SCHEMA}",
        f"create schema if not exists {ETL_SCHEMA}",
        raw_table_ddl(engine=engine),
        f"""create table if not exists {BOOKMARKS_TABLE} (
  job_name varchar(128) not null,
  partition_value varchar(64) not null,
  processed_at timestamp not null,
  row_count bigint not null,
  primary key (job_name, partition_value)
)""",
        f"""create table if not exists {RUNS_TABLE} (
  job_name varchar(128) not null,
  run_id varchar(128) not null,
  started_at timestamp not null,
  finished_at timestamp,
  partitions varchar(65535),
  rows_read bigint,
  rows_loaded bigint,
  rows_rejected bigint,
  status varchar(16) not null,
  error varchar(1024),
  primary key (job_name, run_id)
)""",
    )


WAREHOUSE_DDL = warehouse_ddl()


def ensure_warehouse(conn: Any, engine: str = "postgres") -> list[str]:
    """Create what is missing, then add the contract columns a table made by an older one lacks
    (evolve.py: nullable or defaulted columns, one ALTER each) and move a primary key made before
    versions to (transaction_id, version); returns the names of the columns added."""
    with conn.transaction():
        for statement in warehouse_ddl(engine):
            conn.execute(statement)
    added = evolve_table(conn)
    evolve_primary_key(conn)
    return added


def read_bookmarks(conn: Any, job_name: str) -> dict[str, dt.datetime]:
    rows = conn.execute(
        f"select partition_value, processed_at from {BOOKMARKS_TABLE} where job_name = %s", (job_name,)
    ).fetchall()
    return {value: utc(at) for value, at in rows}


def _naiveutc(value: dt.datetime) -> dt.datetime:
    return utc(value).replace(tzinfo=None)


def record_run_start(conn: Any, job_name: str, run_id: str, started_at: dt.datetime) -> None:
    with conn.transaction():
        conn.execute(
            f"insert into {RUNS_TABLE} (job_name, run_id, started_at, status) values (%s, %s, %s, 'running')",
            (job_name, run_id, _naiveutc(started_at)),
        )


def record_run_end(conn: Any, result: JobResult) -> None:
    with conn.transaction():
        conn.execute(
            f"""update {RUNS_TABLE} set finished_at = %s, partitions = %s, rows_read = %s, rows_loaded = %s,
                rows_rejected = %s, status = %s, error = %s where job_name = %s and run_id = %s""",
            (
                _naiveutc(result.finished_at or dt.datetime.now(dt.UTC)),
                ",".join(result.partitions)[:65535],
                result.rows_read,
                result.rows_loaded,
                result.rows_rejected,
                result.status,
                (result.error or "")[:1024] or None,
                result.job_name,
                result.run_id,
            ),
        )


@dataclass(frozen=True)
class LoadStats:
    rows_staged: int
    rows_inserted: int
    rows_replaced: int
    per_partition: dict[str, int]


_COLUMN_NAMES = [c.name for c in COLUMNS]


def copy_parquet(cursor: Any, table: str, files: Iterable[Path], batch_rows: int = 65536) -> int:
    """COPY Parquet files (the curated output) into ``table`` through CSV batches made by pyarrow."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    columns = ", ".join(_COLUMN_NAMES)
    rows = 0
    with cursor.copy(f"copy {table} ({columns}) from stdin (format csv)") as copy:
        for file in files:
            for batch in pq.ParquetFile(file).iter_batches(batch_size=batch_rows, columns=_COLUMN_NAMES):
                arrays = []
                for array in batch.columns:
                    if pa.types.is_timestamp(array.type):  # warehouse timestamps are UTC without a zone
                        array = array.cast(pa.timestamp("us"))
                    arrays.append(array)
                sink = io.BytesIO()
                table_batch = pa.Table.from_arrays(arrays, names=_COLUMN_NAMES)
                pacsv.write_csv(table_batch, sink, pacsv.WriteOptions(include_header=False))
                copy.write(sink.getvalue())
                rows += batch.num_rows
    return rows


def copy_from_s3_parquet(cursor: Any, table: str, curated_bucket: str, partitions: Iterable[str], role: str) -> int:
    """Redshift: fill the staging table straight from the curated Parquet (untested locally)."""
    for value in partitions:
        cursor.execute(
            f"copy {table} from %s iam_role %s format as parquet",
            (f"s3://{curated_bucket}/{CURATED_PREFIX}dt={value}/", role),
        )
    return int(cursor.execute(f"select count(*) from {table}").fetchone()[0])


def merge_into_warehouse(
    conn: Any,
    stage: Callable[[Any, str], int],
    *,
    job_name: str,
    partitions: Sequence[str],
    processed_at: dt.datetime,
) -> LoadStats:
    """Stage, merge and bookmark in one transaction (delete+insert: Redshift has no ON CONFLICT)."""
    names = ", ".join(_COLUMN_NAMES)
    same_key = " and ".join(f"{{t}}.{k} = {{s}}.{k}" for k in PRIMARY_KEY)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"drop table if exists {STAGE_TABLE}")
        cur.execute(f"create temp table {STAGE_TABLE} (like {WAREHOUSE_TABLE})")
        staged = stage(cur, STAGE_TABLE)
        cur.execute(
            f"""delete from {WAREHOUSE_TABLE} using {STAGE_TABLE}
                where {same_key.format(t=WAREHOUSE_TABLE, s=STAGE_TABLE)}
                  and {WAREHOUSE_TABLE}.ingested_at <= {STAGE_TABLE}.ingested_at"""
        )
        replaced = cur.rowcount
        cur.execute(
            f"""insert into {WAREHOUSE_TABLE} ({names})
                select {names} from {STAGE_TABLE} s
                where not exists (
                  select 1 from {WAREHOUSE_TABLE} t where {same_key.format(t="t", s="s")})"""
        )
        inserted = cur.rowcount
        counts = dict(
            cur.execute(
                f"select to_char(source_partition, 'YYYY-MM-DD'), count(*) from {STAGE_TABLE} group by 1"
            ).fetchall()
        )
        per_partition = {value: int(counts.get(value, 0)) for value in partitions}
        cur.executemany(
            f"delete from {BOOKMARKS_TABLE} where job_name = %s and partition_value = %s",
            [(job_name, value) for value in partitions],
        )
        cur.executemany(
            f"insert into {BOOKMARKS_TABLE} (job_name, partition_value, processed_at, row_count) "
            "values (%s, %s, %s, %s)",
            [(job_name, value, _naiveutc(processed_at), n) for value, n in per_partition.items()],
        )
        cur.execute(f"drop table {STAGE_TABLE}")
    return LoadStats(staged, inserted, replaced, per_partition)
