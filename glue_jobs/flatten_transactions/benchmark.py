"""Flatten throughput: the Spark transforms vs DuckDB and pyarrow on the same NDJSON files.

``python -m glue_jobs.flatten_transactions.benchmark [--rows 200000] [--dsn postgresql://...]``

Not part of the job (nothing imports it). Records are built with the contract
(``to_analytics_record`` of real ``Transaction`` objects, then varied), written as
NDJSON batch files under ``dt=`` folders. Every engine writes the same warehouse
columns to Parquet; Spark start-up is timed apart. With ``--dsn`` it also times the
two driver-side ways of loading the curated rows into PostgreSQL with COPY.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from contracts import Transaction, to_analytics_record
from contracts.warehouse import COLUMNS

ITEM_TYPES = ["cosmetic", "currency", "battle_pass", "loot_box", "bundle", "boost", "character", "emote"]
REGIONS = ["EU-West", "EU-East", "NA-East", "NA-West", "SA-East", "Asia-Pacific", "Oceania", "Middle-East"]


def make_records(n: int, days: int, seed: int = 7) -> dict[str, list[str]]:
    """day -> NDJSON lines; templates validated by the contract, then varied cheaply."""
    rng = random.Random(seed)  # noqa: S311 - test data
    templates = []
    for i, (method, card, gateway) in enumerate(
        [("credit_card", "1234", "Stripe"), ("paypal", None, "PayPal"), ("google_pay", None, "Adyen")]
    ):
        payment = {"payment_method": method, "transaction_status": "completed", "gateway": gateway}
        if card:
            payment["card_last4"] = card
        tx = Transaction.model_validate(
            {
                "transactionId": f"template-{i}",
                "user_id": "user_1",
                "game": "Path Of Exile 2",
                "item_purchased": {
                    "item_id": "mtx_abyssal_wings",
                    "item_name": "Abyssal Wings",
                    "item_type": "cosmetic",
                    "price": {"currency": "USD", "amount": Decimal("10.99")},
                },
                "payment_details": payment,
                "event_timestamp": "2025-02-09T12:34:56Z",
                "server_region": "EU-West",
                "client_ip": "192.168.1.1",
            }
        )
        templates.append(to_analytics_record(tx, dt.datetime(2025, 2, 9, 12, 35, tzinfo=dt.UTC)))
    # the Enrich and version fields as the handlers write them (floats of at most 8 places, ISO times): the job
    # reads, casts and writes all of them
    countries = [("DE", "europe"), ("US", "americas"), ("BR", "americas"), ("JP", "asia_pacific"), (None, "unknown")]
    start = dt.date(2025, 2, 1)
    out: dict[str, list[str]] = {}
    for i in range(n):
        day = start + dt.timedelta(days=i % days)
        r = json.loads(json.dumps(templates[i % len(templates)]))
        h = f"{rng.getrandbits(128):032x}"  # a UUID, as the producers' ids are (orchestration/sample_data)
        r["transactionId"] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        r["user_id"] = f"user_{rng.randrange(50_000)}"
        r["item_purchased"]["item_type"] = ITEM_TYPES[i % len(ITEM_TYPES)]
        r["item_purchased"]["price"]["amount"] = rng.randrange(99, 9999) / 100
        r["server_region"] = REGIONS[i % len(REGIONS)]
        second = rng.randrange(86_400)
        r["event_timestamp"] = f"{day}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"
        r["ingested_at"] = f"{day}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}.{i % 10**6:06d}Z"
        amount = r["item_purchased"]["price"]["amount"]
        country, region = countries[i % len(countries)]
        version = 1 + (i % 10 == 9)  # one record in ten is a second version (a refund of an earlier one)
        if version == 2:
            r["payment_details"] = {**r["payment_details"], "transaction_status": "refunded"}
        r.update({
            "amount_usd": amount, "usd_per_unit": 1.0, "fx_rate_date": str(day - dt.timedelta(days=1)),
            "country": country, "region": region, "item_category": "cosmetic", "list_price_usd": 10.99,
            "contract_version": "1.0", "application_id": "path-of-exile-2", "is_first_purchase": i % 7 == 0,
            "version": version, "previous_status": "completed" if version == 2 else None,
            "status_updated_at": r["ingested_at"],
        })  # fmt: skip
        out.setdefault(day.isoformat(), []).append(json.dumps(r, separators=(",", ":")))
    return out


def write_files(root: Path, lines: dict[str, list[str]], files_per_day: int) -> Path:
    base = root / "transactions"
    for day, day_lines in lines.items():
        folder = base / f"dt={day}"
        folder.mkdir(parents=True, exist_ok=True)
        step = -(-len(day_lines) // files_per_day)
        for j in range(files_per_day):
            chunk = day_lines[j * step : (j + 1) * step]
            if chunk:
                (folder / f"batch-bench-{j}.ndjson").write_text("\n".join(chunk) + "\n")
    return base


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def spark_flatten(spark: Any, base: Path, out: Path, full: bool, expect_rows: int | None = None) -> int:
    """``full``: the job's own Spark phase (:func:`run.flatten_and_write`: contract rules, rejects,
    flatten, dedup, curated write, counts); else read + flatten + write only, like the baselines."""
    from glue_jobs.flatten_transactions import run, transforms

    paths = sorted(str(p) for p in base.glob("dt=*"))
    if full:
        counts = run.flatten_and_write(spark, paths, str(base), str(out), f"{out}-rejects")
        if expect_rows is not None and (counts.rows_read, counts.rows_curated) != (expect_rows, expect_rows):
            raise RuntimeError(f"spark job read/curated {counts.rows_read}/{counts.rows_curated}, not {expect_rows}")
    else:
        run.write_curated(transforms.flatten(run.read_transactions(spark, paths, str(base))), str(out))
    return sum(1 for _ in out.glob("dt=*/*.parquet"))


_DUCK_TYPES = {"varchar": "VARCHAR", "char": "VARCHAR", "timestamp": "TIMESTAMP", "date": "DATE",
               "boolean": "BOOLEAN", "integer": "INTEGER"}  # fmt: skip


def duck_type(sql_type: str) -> str:
    """A warehouse column's type in DuckDB (numeric keeps its precision and scale)."""
    base = sql_type.split("(")[0].strip().lower()
    if base == "numeric":
        return "DECIMAL" + sql_type[len(base) :].replace(" ", "")
    return _DUCK_TYPES[base]


def _read_fields() -> dict[str, Any]:
    """The record's fields the warehouse reads (``contracts.warehouse.COLUMNS`` sources), nested as in the record:
    name -> the warehouse column's SQL type, or a dict of the struct's fields. Both baselines read exactly these,
    null where a record has none, as the job does."""
    tree: dict[str, Any] = {}
    for c in COLUMNS:
        if c.source:
            *parents, leaf = c.source.split(".")
            node = tree
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = c.sql_type
    return tree


def _duck_read_type(field: Any) -> str:
    """How DuckDB's NDJSON reader reads a field of :func:`_read_fields` (times with their ``Z``)."""
    if isinstance(field, dict):
        return "STRUCT(" + ", ".join(f"{k} {_duck_read_type(v)}" for k, v in field.items()) + ")"
    kind = duck_type(field)
    return "TIMESTAMPTZ" if kind == "TIMESTAMP" else kind


def _arrow_read_type(field: Any) -> Any:
    """How pyarrow's JSON reader reads a field of :func:`_read_fields`."""
    import pyarrow as pa

    if isinstance(field, dict):
        return pa.struct([(k, _arrow_read_type(v)) for k, v in field.items()])
    return arrow_type(field)


def arrow_type(sql_type: str) -> Any:
    """A warehouse column's type in pyarrow, as its JSON reader parses it (a date is read as text and cast)."""
    import pyarrow as pa

    kind = duck_type(sql_type)
    if kind.startswith("DECIMAL"):
        precision, scale = (int(x) for x in kind[len("DECIMAL(") : -1].split(","))
        return pa.decimal128(precision, scale)
    return {"VARCHAR": pa.string(), "TIMESTAMP": pa.timestamp("us", tz="UTC"), "DATE": pa.string(),
            "BOOLEAN": pa.bool_(), "INTEGER": pa.int32()}[kind]  # fmt: skip


def duckdb_flatten(base: Path, out: Path, dedup: bool = False) -> int:
    """``dedup``: also keep one row per transaction id as the Spark job does (latest ``ingested_at``,
    ties to the greatest other columns), to compare with the job on that part of its work too."""
    import duckdb

    columns = {name: _duck_read_type(field) for name, field in _read_fields().items()}
    selects = []
    for c in COLUMNS:
        if c.source:
            selects.append(f"cast({c.source} as {duck_type(c.sql_type)}) as {c.name}")
    selects += [
        "cast(cast(event_timestamp as timestamp) as date) as event_date",
        "cast(dt as date) as source_partition",
        "cast(now() as timestamp) as loaded_at",
    ]
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    columns_sql = "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"
    query = (
        f"select {', '.join(selects)}, dt from read_ndjson('{base}/*/*.ndjson', "
        f"columns = {columns_sql}, hive_partitioning = true, timestampformat = '%Y-%m-%dT%H:%M:%S.%fZ')"
    )
    if dedup:
        order = ", ".join(
            f"{c.name} desc nulls last"
            for c in sorted(COLUMNS, key=lambda c: c.name != "ingested_at")
            if c.name != "transaction_id"
        )
        query = f"select * from ({query}) qualify row_number() over (partition by transaction_id order by {order}) = 1"
    con.execute(f"copy ({query}) to '{out}' (format parquet, partition_by (dt))")
    return len(list(out.glob("dt=*/*.parquet")))


def pyarrow_flatten(base: Path, out: Path) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    schema = pa.schema([(name, _arrow_read_type(field)) for name, field in _read_fields().items()])
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    loaded = pa.scalar(dt.datetime.now(dt.UTC), pa.timestamp("us", tz="UTC"))
    files = 0
    for folder in sorted(base.glob("dt=*")):
        day = folder.name.removeprefix("dt=")
        tables = [pajson.read_json(f, parse_options=options) for f in sorted(folder.glob("*.ndjson"))]
        t = pa.concat_tables(tables).flatten().flatten()
        cols = {}
        for c in COLUMNS:
            if c.source:
                column = t.column(c.source)
                cols[c.name] = pc.cast(column, pa.date32()) if duck_type(c.sql_type) == "DATE" else column
        cols["event_date"] = pc.cast(cols["event_at"], pa.date32())
        cols["source_partition"] = pa.array([dt.date.fromisoformat(day)] * t.num_rows, pa.date32())
        cols["loaded_at"] = pa.array([loaded.as_py()] * t.num_rows, pa.timestamp("us", tz="UTC"))
        target = out / f"dt={day}"
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(cols), target / "part-0.parquet")
        files += 1
    return files


def bench_load(spark: Any, curated: Path, dsn: str) -> dict[str, float]:
    import psycopg

    from glue_jobs.flatten_transactions import load

    files = sorted(curated.glob("dt=*/*.parquet"))
    names = ", ".join(c.name for c in COLUMNS)
    results: dict[str, float] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        load.ensure_warehouse(conn)

        def arrow_csv() -> int:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("create temp table bench_stage (like raw.mtx_transactions) on commit drop")
                return load.copy_parquet(cur, "bench_stage", files)

        def local_iterator() -> int:
            df = spark.read.parquet(str(curated)).select(*[c.name for c in COLUMNS])
            n = 0
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("create temp table bench_stage (like raw.mtx_transactions) on commit drop")
                with cur.copy(f"copy bench_stage ({names}) from stdin") as copy:
                    for row in df.toLocalIterator(prefetchPartitions=True):
                        copy.write_row(tuple(row))
                        n += 1
            return n

        for name, fn in (("arrow_csv_copy", arrow_csv), ("spark_toLocalIterator_copy", local_iterator)):
            seconds, rows = timed(fn)
            results[name] = rows / seconds
            print(f"load {name}: {rows} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--files-per-day", type=int, default=5)
    parser.add_argument("--dsn", default="")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--keep", action="store_true")
    opts = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="flatten-bench-"))
    try:
        seconds, lines = timed(lambda: make_records(opts.rows, opts.days))
        base = write_files(root / "in", lines, opts.files_per_day)
        size = sum(p.stat().st_size for p in base.rglob("*.ndjson"))
        print(f"{opts.rows} records, {size / 1e6:.1f} MB NDJSON, built in {seconds:.1f} s")

        from glue_jobs.flatten_transactions import run

        seconds, spark = timed(lambda: run.local_spark_session(app_name="flatten-bench", master="local[*]"))
        print(f"spark session start: {seconds:.1f} s (excluded below)")
        results: dict[str, float] = {}
        runs: list[tuple[str, Callable[[Path], int]]] = [
            ("duckdb", lambda out: duckdb_flatten(base, out)),
            ("duckdb_dedup", lambda out: duckdb_flatten(base, out, dedup=True)),
            ("pyarrow", lambda out: pyarrow_flatten(base, out)),
            ("spark_flatten_only", lambda out: spark_flatten(spark, base, out, full=False)),
            ("spark_job_transforms", lambda out: spark_flatten(spark, base, out, full=True, expect_rows=opts.rows)),
        ]
        # round 1 is cold (JIT, codegen); the JVM keeps warming for a few rounds: report the best
        for attempt in range(1, opts.rounds + 1):
            for name, fn in runs:
                out = root / f"out-{name}-{attempt}"
                seconds, files = timed(partial(fn, out))
                rate = opts.rows / seconds
                results[name] = max(results.get(name, 0.0), rate) if attempt > 1 else results.get(name, 0.0)
                print(f"round {attempt} {name:22}: {seconds:6.2f} s {rate:>9,.0f} rows/s ({files} parquet files)")
        print("best warm rows/s: " + ", ".join(f"{k} {v:,.0f}" for k, v in results.items()))
        if opts.dsn:
            bench_load(spark, root / f"out-spark_job_transforms-{opts.rounds}", opts.dsn)
        spark.stop()
    finally:
        if not opts.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
