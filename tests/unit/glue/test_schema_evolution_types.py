"""evolve.py's view of column types: every contract type maps to what information_schema.columns reports."""

from __future__ import annotations

import pytest

from contracts.warehouse import COLUMNS, Column
from glue_jobs.flatten_transactions import evolve

pytestmark = pytest.mark.unit


def test_every_contract_column_has_a_known_information_schema_type() -> None:
    types = {c.name: str(evolve.contract_type(c)) for c in COLUMNS}
    assert types["transaction_id"] == "character varying(64)"
    assert types["price_currency"] == "character(3)"
    assert types["price_amount"] == "numeric(18,3)"
    assert types["usd_per_unit"] == "numeric(18,8)"
    assert types["event_at"] == "timestamp without time zone"
    assert types["is_first_purchase"] == "boolean"
    assert types["fx_rate_date"] == "date"


@pytest.mark.parametrize(
    ("sql_type", "expected"),
    [
        ("varchar(64)", evolve.ColumnType("character varying", length=64)),
        ("char", evolve.ColumnType("character", length=1)),
        ("decimal(10, 2)", evolve.ColumnType("numeric", precision=10, scale=2)),
        ("numeric(12)", evolve.ColumnType("numeric", precision=12, scale=0)),
        ("TIMESTAMP", evolve.ColumnType("timestamp without time zone")),
        ("bigint", evolve.ColumnType("bigint")),
    ],
)
def test_spellings_normalise(sql_type: str, expected: evolve.ColumnType) -> None:
    assert evolve.contract_type(Column("c", sql_type, "")) == expected


def test_one_nullable_column_per_statement() -> None:
    column = Column("country", "char(2)", "country", True)
    assert evolve.add_column_sql(column) == "alter table raw.mtx_transactions add column country char(2)"
