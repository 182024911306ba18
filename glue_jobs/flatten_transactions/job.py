"""flatten_transactions: catalogued analytics JSON -> curated Parquet -> warehouse raw table.

The same file is the AWS Glue script and the local job (``python -m
glue_jobs.flatten_transactions.job --JOB_NAME ... --warehouse_dsn ...``). Only
this file may touch ``awsglue``, and only when it imports.

One run:

1. Partitions of ``database.table`` from the Glue catalog (``get_table`` /
   ``get_partitions``), kept to ``--from_date``..``--to_date``.
2. Pending ones: no bookmark in ``etl.job_bookmarks`` yet, or an object modified
   since the bookmark (late events land in old partitions). ``--backfill true``
   reprocesses the whole range whatever the bookmarks say.
3. Read with the contract schema (never inferred). In Glue Spark reads ``s3://``;
   locally (no hadoop-aws offline) boto3 downloads the partitions into a temp
   folder with the same layout and Spark reads that.
4. :mod:`.transforms`: rejects split out with reasons, flatten, deduplicate.
5. Curated Parquet to ``s3://<curated>/transactions/dt=.../`` (each processed
   partition replaced), rejects as JSON to ``rejects/transactions/run_id=<run>/``.
   Steps 3-5 are :func:`flatten_and_write`: one Spark action over the input, the
   counts observed during the write; only a run with rejects reads it again for them.
6. Warehouse, one transaction: the run's rows into a temp staging table (COPY),
   ``delete ... using staging`` + ``insert ... select`` (the Redshift merge
   pattern; a row is only replaced by one ingested at the same time or later),
   and the bookmarks. A rerun adds nothing; a crash before the commit leaves
   nothing half-loaded.
7. ``etl.job_runs``: one row per run (running -> succeeded / failed).

Loading: on PostgreSQL, COPY FROM STDIN of the curated Parquet the run just wrote
(pyarrow batches -> CSV, on the driver). Redshift has no COPY FROM STDIN: with
``--redshift_copy_role_arn`` the staging table is filled by Redshift's own
``COPY ... FROM 's3://<curated>/transactions/dt=.../' FORMAT AS PARQUET``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import logging
import re
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from contracts.warehouse import COLUMNS, PRIMARY_KEY, RAW_SCHEMA, RAW_TABLE, raw_table_ddl
from glue_jobs import glue_types
from glue_jobs.flatten_transactions import transforms
from glue_jobs.flatten_transactions.transforms import SchemaDrift
from glue_jobs.s3_sample import excluded, read_sample

logger = logging.getLogger("flatten_transactions")

WAREHOUSE_TABLE = f"{RAW_SCHEMA}.{RAW_TABLE}"
ETL_SCHEMA = "etl"
BOOKMARKS_TABLE = f"{ETL_SCHEMA}.job_bookmarks"
RUNS_TABLE = f"{ETL_SCHEMA}.job_runs"
STAGE_TABLE = "mtx_transactions_stage"
CURATED_PREFIX = "transactions/"
REJECTS_PREFIX = "rejects/transactions/"
#: Objects modified this long before a bookmark still count as new: S3's LastModified is the
#: start of an upload and has coarse precision, and clocks differ a little. Reprocessing is harmless.
BOOKMARK_MARGIN = dt.timedelta(minutes=5)
DRIFT_SAMPLE_OBJECTS = 3

REQUIRED_ARGS = ("JOB_NAME", "database", "table", "curated_bucket")
OPTIONAL_ARGS = (
    "warehouse_secret_id",
    "warehouse_dsn",
    "from_date",
    "to_date",
    "backfill",
    "redshift_copy_role_arn",
    "JOB_RUN_ID",
)


class JobArgumentError(ValueError):
    """The job's arguments are inconsistent."""


@dataclass(frozen=True)
class JobArgs:
    job_name: str
    database: str
    table: str
    curated_bucket: str
    warehouse_secret_id: str = ""
    #: Local only (a DSN in job arguments would be visible in the Glue console).
    warehouse_dsn: str = ""
    from_date: dt.date | None = None
    to_date: dt.date | None = None
    backfill: bool = False
    run_id: str = ""
    redshift_copy_role_arn: str = ""

    def __post_init__(self) -> None:
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise JobArgumentError(f"--from_date {self.from_date} is after --to_date {self.to_date}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> JobArgs:
        def day(name: str) -> dt.date | None:
            raw = str(options.get(name) or "").strip()
            try:
                return dt.date.fromisoformat(raw) if raw else None
            except ValueError:
                raise JobArgumentError(f"--{name} must be YYYY-MM-DD, got {raw!r}") from None

        backfill = str(options.get("backfill") or "false").strip().lower()
        if backfill not in {"true", "false", "1", "0", "yes", "no"}:
            raise JobArgumentError(f"--backfill must be true or false, got {backfill!r}")
        return cls(
            job_name=str(options["JOB_NAME"]),
            database=str(options["database"]),
            table=str(options["table"]),
            curated_bucket=str(options["curated_bucket"]),
            warehouse_secret_id=str(options.get("warehouse_secret_id") or ""),
            warehouse_dsn=str(options.get("warehouse_dsn") or ""),
            from_date=day("from_date"),
            to_date=day("to_date"),
            backfill=backfill in {"true", "1", "yes"},
            run_id=str(options.get("JOB_RUN_ID") or options.get("run_id") or ""),
            redshift_copy_role_arn=str(options.get("redshift_copy_role_arn") or ""),
        )


def parse_args(argv: Sequence[str]) -> JobArgs:
    """Glue's ``getResolvedOptions`` when ``awsglue`` imports, else argparse with the same names."""
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        parser = argparse.ArgumentParser(prog="flatten_transactions", description=__doc__.splitlines()[0])
        for name in REQUIRED_ARGS:
            parser.add_argument(f"--{name}", required=True)
        for name in OPTIONAL_ARGS:
            parser.add_argument(f"--{name}", default="")
        namespace, _ = parser.parse_known_args(list(argv[1:]))  # Glue adds arguments of its own
        return JobArgs.from_options(vars(namespace))
    # getResolvedOptions fails on a missing name: ask only for the optional ones that were passed
    present = [name for name in OPTIONAL_ARGS if f"--{name}" in argv]
    return JobArgs.from_options(getResolvedOptions(list(argv), [*REQUIRED_ARGS, *present]))


# --- catalog and S3 ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    value: str
    location: str  # s3://bucket/prefix/dt=value/


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    size: int
    last_modified: dt.datetime

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    match = re.match(r"^s3a?://([^/]+)/?(.*)$", uri)
    if not match:
        raise ValueError(f"not an s3:// location: {uri!r}")
    return match[1], match[2]


def catalog_partitions(glue: Any, database: str, table: str) -> tuple[str, list[Partition]]:
    """The table's location and its partitions (``dt`` values with their folders), from the catalog."""
    location = glue.get_table(DatabaseName=database, Name=table)["Table"]["StorageDescriptor"]["Location"]
    partitions: list[Partition] = []
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
        for p in page["Partitions"]:
            value = p["Values"][0]
            folder = p.get("StorageDescriptor", {}).get("Location") or f"{location.rstrip('/')}/dt={value}/"
            partitions.append(Partition(value, folder if folder.endswith("/") else folder + "/"))
    return location, sorted(partitions, key=lambda p: p.value)


def list_objects(s3: Any, location: str) -> list[S3Object]:
    bucket, prefix = split_s3_uri(location)
    out: list[S3Object] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            if not excluded(o["Key"]):
                out.append(S3Object(bucket, o["Key"], int(o["Size"]), o["LastModified"]))
    return out


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def in_date_range(
    partitions: Iterable[Partition], from_date: dt.date | None = None, to_date: dt.date | None = None
) -> list[Partition]:
    """Partitions whose ``dt`` is a date within [from_date, to_date] (open ends allowed)."""
    chosen: list[Partition] = []
    for p in partitions:
        day = _day(p.value)
        if day is None:
            logger.warning("partition dt=%s is not a date: skipped", p.value)
        elif not ((from_date and day < from_date) or (to_date and day > to_date)):
            chosen.append(p)
    return chosen


def pending_partitions(
    partitions: Iterable[Partition],
    objects: Mapping[str, Sequence[S3Object]],
    bookmarks: Mapping[str, dt.datetime],
    *,
    backfill: bool = False,
    margin: dt.timedelta = BOOKMARK_MARGIN,
) -> list[Partition]:
    """Partitions holding objects and not bookmarked since their last change (all of them on backfill)."""
    chosen: list[Partition] = []
    for p in partitions:
        found = objects.get(p.value, ())
        if not found:
            continue
        done = bookmarks.get(p.value)
        if backfill or done is None or any(_utc(o.last_modified) > _utc(done) - margin for o in found):
            chosen.append(p)
    return chosen


def sample_drift(s3: Any, objects: Mapping[str, Sequence[S3Object]], per_partition: int = 3) -> SchemaDrift:
    """Fields the data carries beyond the contract, from a few objects per partition (crawler inference)."""
    records: list[dict[str, Any]] = []
    for found in objects.values():
        for o in found[:per_partition]:
            got, _ = read_sample(s3, o.bucket, [o.key], max_bytes=256 * 1024, max_records=200)
            records.extend(got)
    return transforms.detect_drift(glue_types.infer_columns(records)) if records else SchemaDrift()


_SAFE_NAME = re.compile(r"^[A-Za-z0-9._=-]+$")


def download(
    s3: Any, objects: Mapping[str, Sequence[S3Object]], root: Path, table_prefix: str
) -> tuple[list[str], dict[str, str]]:
    """Objects -> ``root/<table_prefix>/dt=<value>/``; (partition folders, ``file://`` path -> s3 URI).

    Local names are made Hadoop-safe: a ``:`` (allowed in transaction ids) breaks Hadoop's Path.
    """
    folders: list[str] = []
    names: dict[str, str] = {}
    for value, found in objects.items():
        folder = root / table_prefix / f"dt={value}"
        folder.mkdir(parents=True, exist_ok=True)
        folders.append(str(folder))
        for index, o in enumerate(found):
            name = o.key.rsplit("/", 1)[-1]
            if not _SAFE_NAME.match(name):
                name = f"{index:07d}-" + re.sub(r"[^A-Za-z0-9._=-]", "_", name)
            target = folder / name
            s3.download_file(o.bucket, o.key, str(target))
            names[f"file://{target}"] = o.uri  # as Spark's input_file_name() spells it, unquoted
    return folders, names


def read_transactions(spark: SparkSession, paths: Sequence[str], base_path: str) -> DataFrame:
    """The analytics JSON of these partition folders, with the contract schema; ``dt`` from the path."""
    return (
        spark.read.schema(transforms.read_schema())
        .options(**transforms.READ_OPTIONS)
        .option("basePath", base_path)
        .json(list(paths))
        .withColumn(transforms.SOURCE_FILE, F.input_file_name())
    )


def _with_dt(df: DataFrame) -> DataFrame:
    return df.withColumn("dt", F.date_format(F.col("source_partition"), "yyyy-MM-dd"))


def write_curated(df: DataFrame, uri: str) -> None:
    """Flattened rows as Parquet under ``uri/dt=.../``; each partition written is replaced.

    ``REBALANCE(dt)`` (adaptive execution) gives about one file per day, split when a day is
    large; it measured faster than ``repartition(dt)`` and avoids one file per task and day.
    """
    spark = df.sparkSession
    view = f"curated_{uuid.uuid4().hex}"
    _with_dt(df).createOrReplaceTempView(view)
    try:
        balanced = spark.sql(f"select /*+ REBALANCE(dt) */ * from {view}")
        balanced.write.mode("overwrite").partitionBy("dt").parquet(uri)
    finally:
        spark.catalog.dropTempView(view)


def write_rejects(df: DataFrame, uri: str) -> None:
    _with_dt(df).coalesce(1).write.mode("overwrite").partitionBy("dt").json(uri)


def upload_partitions(s3: Any, local_root: Path, bucket: str, prefix: str, replace: bool = True) -> list[str]:
    """Upload ``local_root/dt=*/<files>`` to ``s3://bucket/prefix/dt=*/``, first removing what was there."""
    keys: list[str] = []
    for folder in sorted(p for p in local_root.glob("dt=*") if p.is_dir()):
        target = f"{prefix}{folder.name}/"
        if replace:
            old = [o.key for o in list_objects(s3, f"s3://{bucket}/{target}")]
            for start in range(0, len(old), 1000):
                chunk = [{"Key": k} for k in old[start : start + 1000]]
                s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
        for file in sorted(folder.iterdir()):
            if file.is_file() and not excluded(file.name):
                s3.upload_file(str(file), bucket, target + file.name)
                keys.append(target + file.name)
    return keys


# --- warehouse --------------------------------------------------------------------------------


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


def ensure_warehouse(conn: Any, engine: str = "postgres") -> None:
    with conn.transaction():
        for statement in warehouse_ddl(engine):
            conn.execute(statement)


def read_bookmarks(conn: Any, job_name: str) -> dict[str, dt.datetime]:
    rows = conn.execute(
        f"select partition_value, processed_at from {BOOKMARKS_TABLE} where job_name = %s", (job_name,)
    ).fetchall()
    return {value: _utc(at) for value, at in rows}


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return _utc(value).replace(tzinfo=None)


def record_run_start(conn: Any, job_name: str, run_id: str, started_at: dt.datetime) -> None:
    with conn.transaction():
        conn.execute(
            f"insert into {RUNS_TABLE} (job_name, run_id, started_at, status) values (%s, %s, %s, 'running')",
            (job_name, run_id, _naive_utc(started_at)),
        )


def record_run_end(conn: Any, result: JobResult) -> None:
    with conn.transaction():
        conn.execute(
            f"""update {RUNS_TABLE} set finished_at = %s, partitions = %s, rows_read = %s, rows_loaded = %s,
                rows_rejected = %s, status = %s, error = %s where job_name = %s and run_id = %s""",
            (
                _naive_utc(result.finished_at or dt.datetime.now(dt.UTC)),
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
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"drop table if exists {STAGE_TABLE}")
        cur.execute(f"create temp table {STAGE_TABLE} (like {WAREHOUSE_TABLE})")
        staged = stage(cur, STAGE_TABLE)
        cur.execute(
            f"""delete from {WAREHOUSE_TABLE} using {STAGE_TABLE}
                where {WAREHOUSE_TABLE}.{PRIMARY_KEY} = {STAGE_TABLE}.{PRIMARY_KEY}
                  and {WAREHOUSE_TABLE}.ingested_at <= {STAGE_TABLE}.ingested_at"""
        )
        replaced = cur.rowcount
        cur.execute(
            f"""insert into {WAREHOUSE_TABLE} ({names})
                select {names} from {STAGE_TABLE} s
                where not exists (
                  select 1 from {WAREHOUSE_TABLE} t where t.{PRIMARY_KEY} = s.{PRIMARY_KEY})"""
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
            [(job_name, value, _naive_utc(processed_at), n) for value, n in per_partition.items()],
        )
        cur.execute(f"drop table {STAGE_TABLE}")
    return LoadStats(staged, inserted, replaced, per_partition)


# --- the run ----------------------------------------------------------------------------------


@dataclass
class JobResult:
    job_name: str
    run_id: str
    started_at: dt.datetime
    status: str = "running"
    finished_at: dt.datetime | None = None
    partitions: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_rejected: int = 0
    #: Rows after rejects and de-duplication: what the curated zone holds for these partitions.
    rows_curated: int = 0
    #: Rows the merge inserted (including ones that replaced an older version).
    rows_loaded: int = 0
    rows_replaced: int = 0
    curated_objects: list[str] = field(default_factory=list)
    rejects_location: str | None = None
    drift: SchemaDrift = field(default_factory=SchemaDrift)
    error: str | None = None


def apply_session_conf(spark: SparkSession) -> None:
    for key, value in transforms.SESSION_CONF.items():
        spark.conf.set(key, value)


def local_spark_session(
    app_name: str = "flatten_transactions",
    master: str = "local[*]",
    shuffle_partitions: int = 4,
    driver_memory: str = "2g",
) -> SparkSession:
    """A SparkSession like Glue's for local runs and tests: UTC, no UI, few shuffle partitions.

    ``driver_memory`` (the only executor in local mode) applies when this call starts the JVM;
    the default 1g makes the dedup sort of a million rows spill.
    """
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.driver.memory", driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.pyspark.python", sys.executable)
    )
    for key, value in transforms.SESSION_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def run_job(
    args: JobArgs,
    *,
    spark: SparkSession,
    s3: Any,
    glue: Any,
    dsn: str | None = None,
    secrets: Any | None = None,
    spark_reads_s3: bool = False,
    workdir: Path | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    bookmark_margin: dt.timedelta = BOOKMARK_MARGIN,
) -> JobResult:
    """One run of the job (see the module docstring); returns what it did, raises if it failed."""
    import psycopg

    apply_session_conf(spark)
    started = clock()
    run_id = args.run_id or f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    result = JobResult(job_name=args.job_name, run_id=run_id, started_at=started)
    with psycopg.connect(dsn or warehouse_dsn(args, secrets), autocommit=True) as conn:
        # the Redshift path is the one that loads by COPY from S3 (--redshift_copy_role_arn)
        ensure_warehouse(conn, "redshift" if args.redshift_copy_role_arn else "postgres")
        record_run_start(conn, args.job_name, run_id, started)
        try:
            with tempfile.TemporaryDirectory(prefix="flatten-", dir=workdir) as tmp:
                _run(args, result, conn, Path(tmp), spark=spark, s3=s3, glue=glue,
                     spark_reads_s3=spark_reads_s3, margin=bookmark_margin)  # fmt: skip
            result.status = "succeeded"
        except BaseException as exc:
            result.status = "failed"
            result.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            result.finished_at = clock()
            record_run_end(conn, result)
    logger.info(
        "%s %s %s: %d partitions, %d read, %d rejected, %d loaded (%d replaced)",
        args.job_name, run_id, result.status, len(result.partitions), result.rows_read,
        result.rows_rejected, result.rows_loaded, result.rows_replaced,
    )  # fmt: skip
    return result


def _run(
    args: JobArgs,
    result: JobResult,
    conn: Any,
    tmp: Path,
    *,
    spark: SparkSession,
    s3: Any,
    glue: Any,
    spark_reads_s3: bool,
    margin: dt.timedelta,
) -> None:
    table_location, partitions = catalog_partitions(glue, args.database, args.table)
    in_range = in_date_range(partitions, args.from_date, args.to_date)
    objects = {p.value: list_objects(s3, p.location) for p in in_range}
    pending = pending_partitions(
        in_range, objects, read_bookmarks(conn, args.job_name), backfill=args.backfill, margin=margin
    )
    result.partitions = [p.value for p in pending]
    if not pending:
        logger.info("%s: no new or changed partitions", args.job_name)
        return
    pending_objects = {p.value: objects[p.value] for p in pending}
    result.drift = sample_drift(s3, pending_objects, DRIFT_SAMPLE_OBJECTS)
    if result.drift.drifted:
        logger.warning("%s: schema drift in the analytics data: %s", args.job_name, result.drift)

    local_names: dict[str, str] = {}
    if spark_reads_s3:
        base, paths = table_location, [p.location for p in pending]
    else:
        _, table_prefix = split_s3_uri(table_location)
        paths, local_names = download(s3, pending_objects, tmp / "in", table_prefix)
        base = str(tmp / "in" / table_prefix)

    curated_uri = f"s3://{args.curated_bucket}/{CURATED_PREFIX}"
    rejects_uri = f"s3://{args.curated_bucket}/{REJECTS_PREFIX}run_id={result.run_id}/"
    local_curated, local_rejects = tmp / "curated", tmp / "rejects"
    counts = flatten_and_write(
        spark,
        paths,
        base,
        curated_uri if spark_reads_s3 else str(local_curated),
        rejects_uri if spark_reads_s3 else str(local_rejects),
        loaded_at=result.started_at,
        source_names=local_names,
    )
    result.rows_read, result.rows_rejected, result.rows_curated = (
        counts.rows_read,
        counts.rows_rejected,
        counts.rows_curated,
    )
    if result.rows_rejected:
        result.rejects_location = rejects_uri
        logger.warning("%s: %d rows rejected, see %s", args.job_name, result.rows_rejected, rejects_uri)
    if not spark_reads_s3:
        result.curated_objects = upload_partitions(s3, local_curated, args.curated_bucket, CURATED_PREFIX)
        if result.rows_rejected:
            _, rejects_prefix = split_s3_uri(rejects_uri)
            upload_partitions(s3, local_rejects, args.curated_bucket, rejects_prefix, replace=False)
    # a processed partition whose rows were all rejected must not keep its old curated files
    for value in sorted(set(result.partitions) - counts.partitions):
        _clear_prefix(s3, args.curated_bucket, f"{CURATED_PREFIX}dt={value}/")

    stage = _stager(args, s3, tmp, local_curated, spark_reads_s3, result.partitions)
    stats = merge_into_warehouse(
        conn, stage, job_name=args.job_name, partitions=result.partitions, processed_at=result.started_at
    )
    result.rows_loaded = stats.rows_inserted
    result.rows_replaced = stats.rows_replaced


@dataclass(frozen=True)
class FlattenCounts:
    rows_read: int
    rows_rejected: int
    #: Rows written to the curated zone (after rejects and de-duplication).
    rows_curated: int
    #: ``dt`` values the curated zone got files for.
    partitions: frozenset[str]


def flatten_and_write(
    spark: SparkSession,
    paths: Sequence[str],
    base_path: str,
    curated_uri: str,
    rejects_uri: str,
    *,
    loaded_at: dt.datetime | None = None,
    source_names: Mapping[str, str] | None = None,
) -> FlattenCounts:
    """Spark's part of a run: read, split rejects, flatten, deduplicate, write curated (and rejects).

    One pass over the input: the counts come from observations of the write itself (no
    ``count()``, no cache of the raw rows). Only a run with rejects reads the input again,
    to write them.
    """
    from pyspark.sql import Observation

    read_metrics, curated_metrics = Observation("flatten_read"), Observation("flatten_curated")
    raw = read_transactions(spark, paths, base_path)
    good, rejects = transforms.split_rejects(raw, observation=read_metrics)
    flat = transforms.deduplicate(transforms.flatten(good, loaded_at=loaded_at)).observe(
        curated_metrics,
        F.count(F.lit(1)).alias("rows"),
        # a string: PySpark's Observation.get hands arrays back as Java objects
        F.concat_ws(",", F.collect_set(F.date_format(F.col("source_partition"), "yyyy-MM-dd"))).alias("partitions"),
    )
    write_curated(flat, curated_uri)
    read, curated = read_metrics.get, curated_metrics.get
    rows_rejected = int(read["rejected"])
    if rows_rejected:
        rejects = rejects.persist()  # the source file mapping and the write share one pass
        try:
            write_rejects(_with_s3_source(rejects, source_names or {}), rejects_uri)
        finally:
            rejects.unpersist()
    partitions = frozenset(p for p in str(curated["partitions"] or "").split(",") if p)
    return FlattenCounts(int(read["rows"]), rows_rejected, int(curated["rows"]), partitions)


def _clear_prefix(s3: Any, bucket: str, prefix: str) -> None:
    old = [o.key for o in list_objects(s3, f"s3://{bucket}/{prefix}")]
    for start in range(0, len(old), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in old[start : start + 1000]]})


def _with_s3_source(rejects: DataFrame, local_names: Mapping[str, str]) -> DataFrame:
    """Locally read files are temp copies: name the S3 object instead (only for the few rejects)."""
    if not local_names:
        return rejects
    files = [r[0] for r in rejects.select(F.col("source_file")).distinct().collect() if r[0]]
    pairs = [F.lit(x) for f in files for x in (f, local_names.get(unquote(f), f))]
    if not pairs:
        return rejects
    mapped = F.create_map(*pairs)[F.col("source_file")]
    return rejects.withColumn("source_file", F.coalesce(mapped, F.col("source_file")))


def _stager(
    args: JobArgs, s3: Any, tmp: Path, local_curated: Path, spark_reads_s3: bool, partitions: Sequence[str]
) -> Callable[[Any, str], int]:
    if args.redshift_copy_role_arn:
        return lambda cur, table: copy_from_s3_parquet(
            cur, table, args.curated_bucket, partitions, args.redshift_copy_role_arn
        )
    if spark_reads_s3:  # PostgreSQL warehouse with Spark on S3: fetch the curated files just written
        local_curated = tmp / "curated"
        for value in partitions:
            for o in list_objects(s3, f"s3://{args.curated_bucket}/{CURATED_PREFIX}dt={value}/"):
                target = local_curated / f"dt={value}" / o.key.rsplit("/", 1)[-1]
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(o.bucket, o.key, str(target))
    files = sorted(local_curated.glob("dt=*/*.parquet"))
    return lambda cur, table: copy_parquet(cur, table, files)


# --- entry point ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parse_args(argv)
    try:
        from awsglue.context import GlueContext
        from awsglue.job import Job
    except ImportError:
        return _main_local(args)
    import boto3
    from pyspark.context import SparkContext

    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(args.job_name, {"JOB_NAME": args.job_name})
    run_job(
        args,
        spark=glue_context.spark_session,
        s3=boto3.client("s3"),
        glue=boto3.client("glue"),
        secrets=boto3.client("secretsmanager"),
        spark_reads_s3=True,
    )
    job.commit()
    return 0


def _main_local(args: JobArgs) -> int:
    import boto3

    from contracts.config import get_settings

    settings = get_settings()

    session = boto3.session.Session(region_name=settings.region)

    def client(service: str) -> Any:
        make: Callable[..., Any] = session.client
        return make(service, endpoint_url=settings.aws_endpoint_url)

    spark = local_spark_session()
    try:
        result = run_job(args, spark=spark, s3=client("s3"), glue=client("glue"), secrets=client("secretsmanager"))
    finally:
        spark.stop()
    print(json.dumps({k: v for k, v in vars(result).items() if k != "drift"} | {"drift": vars(result.drift)},
                     default=str, indent=2))  # fmt: skip
    return 0 if result.status == "succeeded" else 1


if __name__ == "__main__":
    raise SystemExit(main())
