"""The Glue benchmark's DuckDB and pyarrow baselines make every warehouse column, with its type: a column added to
the warehouse (Enrich's, the versions') once broke them (KeyError 'date'), and `make bench` with them."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contracts.warehouse import COLUMNS
from glue_jobs.flatten_transactions.benchmark import (
    arrow_type,
    duck_type,
    duckdb_flatten,
    make_records,
    pyarrow_flatten,
    write_files,
)

pytestmark = pytest.mark.unit


def test_every_warehouse_type_has_a_duckdb_and_an_arrow_type() -> None:
    for c in COLUMNS:
        assert duck_type(c.sql_type) and arrow_type(c.sql_type) is not None, c.name
    assert duck_type("numeric(18,8)") == "DECIMAL(18,8)"


def test_both_baselines_write_every_warehouse_column_for_every_record(tmp_path: Path) -> None:
    base = write_files(tmp_path, make_records(300, days=2), files_per_day=2)
    duckdb_flatten(base, tmp_path / "duck")
    duckdb_flatten(base, tmp_path / "duck-dedup", dedup=True)
    pyarrow_flatten(base, tmp_path / "arrow")
    names = {c.name for c in COLUMNS}
    for out in ("duck", "duck-dedup", "arrow"):
        table = pq.read_table(tmp_path / out)
        assert names <= set(table.column_names), (out, names - set(table.column_names))
        assert table.num_rows == 300, out
    duck, arrow = pq.read_table(tmp_path / "duck"), pq.read_table(tmp_path / "arrow")
    for c in COLUMNS:  # the same type (a timestamp's zone aside: DuckDB writes UTC times without one)
        assert _kind(duck.schema.field(c.name).type) == _kind(arrow.schema.field(c.name).type), c.name


def test_the_enrich_and_version_fields_arrive_with_their_values(tmp_path: Path) -> None:
    """The records carry the Enrich and version fields as the handlers write them, and both baselines read the
    values (not nulls): a cast or parse failure on them would show here."""
    base = write_files(tmp_path, make_records(100, days=1), files_per_day=1)
    duckdb_flatten(base, tmp_path / "duck")
    pyarrow_flatten(base, tmp_path / "arrow")
    for out in ("duck", "arrow"):
        rows = pq.read_table(tmp_path / out).to_pylist()
        assert all(r["amount_usd"] is not None and r["fx_rate_date"] is not None for r in rows), out
        assert {r["version"] for r in rows} == {1, 2} and {r["previous_status"] for r in rows} == {None, "completed"}
        assert all(r["status_updated_at"] is not None for r in rows) and any(r["is_first_purchase"] for r in rows)
        assert {r["country"] for r in rows} == {"DE", "US", "BR", "JP", None}


def _kind(t: pa.DataType) -> object:
    return ("timestamp", t.unit) if pa.types.is_timestamp(t) else t
