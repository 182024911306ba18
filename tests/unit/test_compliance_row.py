"""The compliance row, declared from the contract (contracts/compliance.py): what the writers insert."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from contracts import PII_FIELDS, validate_transaction
from contracts.compliance import COLUMNS, CONTRACT_PATHS, WRITTEN, compliance_row, table_ddl
from contracts.transaction import Gateway, ItemType, PaymentMethod, ServerRegion, TransactionStatus
from lambdas.store_compliance.handler import INSERT_SQL
from tests.helpers import seed_tx

pytestmark = pytest.mark.unit


def test_every_column_with_a_source_maps_a_field_of_the_contract_and_the_pii_stays_here() -> None:
    sources = {c.source for c in COLUMNS if c.source}
    assert sources <= CONTRACT_PATHS
    # the compliance store is where the card and the IP are kept: every PII field has its column
    assert {".".join(path) for path in PII_FIELDS} <= sources
    # every field of the contract is a column, but the item's name (kept in raw only, as before)
    assert CONTRACT_PATHS - sources == {"item_purchased.item_name"}


def test_enumerated_values_fit_their_columns() -> None:
    width = {c.name: int(c.sql_type.split("(")[1].rstrip(")")) for c in COLUMNS if c.sql_type.startswith("varchar")}
    for column, enum in [("item_type", ItemType), ("payment_method", PaymentMethod), ("gateway", Gateway),
                         ("transaction_status", TransactionStatus), ("server_region", ServerRegion)]:  # fmt: skip
        assert max(len(e.value) for e in enum) <= width[column], column


def test_the_row_is_the_validated_record_column_by_column() -> None:
    tx = validate_transaction(seed_tx(client_ip="2001:0DB8::1"))
    wire = tx.to_json_dict()
    row = compliance_row(wire, "exec-1")
    assert tuple(row) == WRITTEN
    assert row["transaction_id"] == tx.transaction_id and row["client_ip"] == "2001:db8::1"
    assert Decimal(row["price_amount"]) == tx.item_purchased.price.amount
    assert row["card_last4"] == tx.payment_details.card_last4 and row["execution_id"] == "exec-1"
    assert json.loads(row["raw"]) == wire
    # the INSERT names exactly these parameters, once each
    assert all(INSERT_SQL.count(f"%({name})s") == 1 for name in WRITTEN)
    assert "stored_at" not in WRITTEN and "stored_at timestamptz not null default now()" in table_ddl()
