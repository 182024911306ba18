"""One run of the flatten job: catalogued analytics JSON -> curated Parquet -> warehouse raw table.

1. Partitions of ``database.table`` from the Glue catalog, kept to ``--from_date``..``--to_date``
   (:mod:`.sources`).
2. Pending ones: no bookmark in ``etl.job_bookmarks`` yet, or an object modified since the bookmark
   (late events land in old partitions). ``--backfill true`` reprocesses the whole range.
3. Read with the contract schema (never inferred). In Glue Spark reads ``s3://``; locally (no
   hadoop-aws offline) boto3 downloads the partitions into a temp folder with the same layout.
4. :mod:`.transforms`: rejects split out with reasons, flatten, deduplicate.
5. Curated Parquet to ``s3://<curated>/transactions/dt=.../`` (each processed partition replaced),
   rejects as JSON to ``rejects/transactions/run_id=<run>/``. Steps 3-5 are :func:`flatten_and_write`:
   one Spark action over the input, the counts observed during the write; only a run with rejects
   reads it again for them.
6. The warehouse, one transaction (:mod:`.load`): stage, merge, bookmarks. A rerun adds nothing; a
   crash before the commit leaves nothing half-loaded.
7. ``etl.job_runs``: one row per run (running -> succeeded / failed).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from glue_jobs.flatten_transactions import lineage, transforms
from glue_jobs.flatten_transactions.arguments import JobArgs
from glue_jobs.flatten_transactions.load import (
    copy_from_s3_parquet,
    copy_parquet,
    ensure_warehouse,
    merge_into_warehouse,
    read_bookmarks,
    record_run_end,
    record_run_start,
    warehouse_dsn,
)
from glue_jobs.flatten_transactions.result import JobResult
from glue_jobs.flatten_transactions.schema import read_schema
from glue_jobs.flatten_transactions.sources import (
    BOOKMARK_MARGIN,
    CURATED_PREFIX,
    REJECTS_PREFIX,
    catalog_partitions,
    clear_prefix,
    download,
    in_date_range,
    list_objects,
    pending_partitions,
    sample_drift,
    split_s3_uri,
    upload_partitions,
)

logger = logging.getLogger("flatten_transactions")

DRIFT_SAMPLE_OBJECTS = 3


def read_transactions(spark: SparkSession, paths: Sequence[str], base_path: str) -> DataFrame:
    """The analytics JSON of these partition folders, with the contract schema; ``dt`` from the path."""
    return (
        spark.read.schema(read_schema())
        .options(**transforms.READ_OPTIONS)
        .option("basePath", base_path)
        .json(list(paths))
        .withColumn(transforms.SOURCE_FILE, F.input_file_name())
    )


def _with_dt(df: DataFrame) -> DataFrame:
    """``dt`` = ``source_partition``, a date: Spark names a date's folder ``dt=yyyy-MM-dd`` itself, with no
    formatting of every row."""
    return df.withColumn("dt", F.col("source_partition"))


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
    dsn = dsn or warehouse_dsn(args, secrets)
    lineage.configure(args)
    with psycopg.connect(dsn, autocommit=True) as conn:
        # the Redshift path is the one that loads by COPY from S3 (--redshift_copy_role_arn)
        ensure_warehouse(conn, "redshift" if args.redshift_copy_role_arn else "postgres")
        record_run_start(conn, args.job_name, run_id, started)
        lineage.started(args, result, dsn, glue)
        failure: BaseException | None = None
        try:
            with tempfile.TemporaryDirectory(prefix="flatten-", dir=workdir) as tmp:
                _run(args, result, conn, Path(tmp), spark=spark, s3=s3, glue=glue,
                     spark_reads_s3=spark_reads_s3, margin=bookmark_margin)  # fmt: skip
            result.status = "succeeded"
        except BaseException as exc:
            result.status = "failed"
            result.error = f"{type(exc).__name__}: {exc}"
            failure = exc
            raise
        finally:
            result.finished_at = clock()
            record_run_end(conn, result)
            lineage.finished(args, result, dsn, failure)
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
        clear_prefix(s3, args.curated_bucket, f"{CURATED_PREFIX}dt={value}/")

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

    One pass over the input: the counts come from an observation of the write itself
    (:func:`transforms.curate`; no ``count()``, no cache of the raw rows). Only a run with rejects
    reads the input again, to write them.
    """
    from pyspark.sql import Observation

    metrics = Observation("flatten")
    raw = read_transactions(spark, paths, base_path)
    write_curated(transforms.curate(raw, metrics, loaded_at=loaded_at), curated_uri)
    counts = metrics.get
    rows_rejected = int(counts["rejected"])
    if rows_rejected:
        _, rejects = transforms.split_rejects(raw)
        rejects = rejects.persist()  # the source file mapping and the write share one pass
        try:
            write_rejects(_with_s3_source(rejects, source_names or {}), rejects_uri)
        finally:
            rejects.unpersist()
    partitions = frozenset(p for p in str(counts["partitions"] or "").split(",") if p)
    return FlattenCounts(int(counts["rows"]), rows_rejected, int(counts["curated"]), partitions)


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
