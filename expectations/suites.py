"""Great Expectations suites, built in Python from the contract and the dbt YAML.

Nothing here is hand-edited JSON: column lists come from ``contracts.warehouse``,
enumerations from ``contracts.transaction``, currencies from
``contracts.currencies``, PII names from ``contracts.pii`` and mart columns/keys
from the dbt model YAML (``dbt/models/marts/**/_*.yml``). Schema and table names
are parameters so a test can point a suite at its own copy.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no usage statistics from a pipeline check

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column as RowColumn
from ruamel.yaml import YAML  # a dependency of great-expectations itself

from contracts.currencies import ISO_4217_CODES
from contracts.lifecycle import MOVES
from contracts.pii import PII_FIELDS
from contracts.transaction import MAX_AMOUNT, Gateway, ItemType, PaymentMethod, ServerRegion, TransactionStatus
from contracts.warehouse import COLUMNS, ENRICHED, PRIMARY_KEY, RAW_SCHEMA, RAW_TABLE, REGIONS

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_MARTS_DIR = REPO_ROOT / "dbt" / "models" / "marts"
MARTS_SCHEMA = "analytics"

#: Regexes of an IP address anywhere in a string value (IPv4 dotted quad; IPv6 with
#: at least three hex groups or a ``::``). Timestamps are not scanned (``12:34:56``).
IPV4_REGEX = (
    r"(?:^|[^0-9.])(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}(?:$|[^0-9.])"
)
IPV6_REGEX = (
    r"(?:^|[^0-9A-Za-z:])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}(?:$|[^0-9A-Za-z:])"
    r"|(?:^|[^0-9A-Za-z:])(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4})*)?"
    r"(?:$|[^0-9A-Za-z:])"
)
IP_REGEXES: tuple[str, ...] = (IPV4_REGEX, IPV6_REGEX)

#: Column names the PII fields would take in a flattened analytics frame ("client_ip", "card_last4").
PII_COLUMNS: tuple[str, ...] = tuple(sorted(path[-1] for path in PII_FIELDS))

#: Enumerations of the contract, by warehouse column.
ENUM_COLUMNS: dict[str, tuple[str, ...]] = {
    "item_type": tuple(e.value for e in ItemType),
    "payment_method": tuple(e.value for e in PaymentMethod),
    "payment_gateway": tuple(e.value for e in Gateway),
    "transaction_status": tuple(e.value for e in TransactionStatus),
    "server_region": tuple(e.value for e in ServerRegion),
    # the status a version moved from: one the lifecycle lets move on (contracts/lifecycle.py MOVES)
    "previous_status": tuple(s.value for s, moves in MOVES.items() if moves),
}
CURRENCIES: tuple[str, ...] = tuple(sorted(ISO_4217_CODES))

#: Columns of the analytics frame built from S3 objects: every contract column with a
#: wire source, plus where each row came from.
SOURCE_COLUMNS: tuple[str, ...] = ("source_partition", "source_key")
ANALYTICS_COLUMNS: tuple[str, ...] = (*(c.name for c in COLUMNS if c.source), *SOURCE_COLUMNS)
#: Columns every analytics row has (the Enrich stage's are nullable: objects stored before it have none).
REQUIRED_COLUMNS: tuple[str, ...] = (*(c.name for c in COLUMNS if c.source and not c.nullable), "source_partition")
#: Contract columns holding free text (scanned for IP addresses).
STRING_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in COLUMNS if c.source and c.sql_type.startswith(("varchar", "char"))
)


def _pii_meta() -> dict[str, Any]:
    return {"pii_fields": [".".join(p) for p in PII_FIELDS], "policy": "PII never reaches analytics"}


def version_expectations() -> list[Any]:
    """The version fields (contracts.warehouse.VERSIONED), on the S3 objects and the raw table: one row per
    (transaction_id, version), versions from 1, version 1 moved from nothing and a later one from a status."""
    meta = {"check": "versions", "key": list(PRIMARY_KEY)}
    return [
        gxe.ExpectCompoundColumnsToBeUnique(column_list=list(PRIMARY_KEY), meta=meta),
        gxe.ExpectColumnValuesToBeBetween(column="version", min_value=1, meta=meta),
        gxe.ExpectColumnValuesToBeNull(column="previous_status", row_condition=RowColumn("version") == 1, meta=meta),
        gxe.ExpectColumnValuesToNotBeNull(column="previous_status", row_condition=RowColumn("version") > 1, meta=meta),
    ]


def enriched_expectations() -> list[Any]:
    """The Enrich stage's fields (contracts.warehouse.ENRICHED), on the S3 objects and the raw table: a set that
    is set together (a USD amount has its rate, its rate date, its region and stamps), and values of their
    domains. The country is an ISO code, never an address (the IP scan covers every text column too)."""
    meta = {"check": "enriched", "fields": [c.name for c in ENRICHED]}
    together = ["usd_per_unit", "fx_rate_date", "region", "contract_version", "application_id", "is_first_purchase"]
    return [
        *[gxe.ExpectColumnValuesToNotBeNull(column=c, row_condition=RowColumn("amount_usd").is_not_null(), meta=meta)
          for c in together],
        gxe.ExpectColumnValuesToBeBetween(column="amount_usd", min_value=0, meta=meta),
        gxe.ExpectColumnValuesToBeBetween(column="usd_per_unit", min_value=0, strict_min=True, meta=meta),
        gxe.ExpectColumnValuesToMatchRegex(column="country", regex=r"^[A-Z]{2}$", meta=meta),
        gxe.ExpectColumnValuesToBeInSet(column="region", value_set=list(REGIONS), meta=meta),
        gxe.ExpectColumnValuesToMatchRegex(column="contract_version", regex=r"^\d+\.\d+\.\d+$", meta=meta),
        gxe.ExpectColumnValuesToBeInSet(column="is_first_purchase", value_set=[True, False], meta=meta),
    ]  # fmt: skip


# --------------------------------------------------------------------------- S3
def analytics_objects_suite(extra_string_columns: Iterable[str] = ()) -> gx.ExpectationSuite:
    """Suite for a pandas frame of the S3 analytics objects (see ``checkpoint.analytics_frame``).

    ``extra_string_columns``: columns found in the objects that the contract does not
    know (a smuggled field); they are scanned for IP addresses too, so a leaked
    ``client_ip`` is named by column.
    """
    scan = [*STRING_COLUMNS, *(c for c in extra_string_columns if c not in STRING_COLUMNS)]
    exps: list[Any] = [
        # Exactly the PII-free columns: an extra one (client_ip, card_last4, anything
        # unknown) is reported in observed_value "unexpected".
        gxe.ExpectTableColumnsToMatchSet(
            column_set=list(ANALYTICS_COLUMNS), exact_match=True, meta={"check": "columns_pii_free", **_pii_meta()}
        ),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, meta={"check": "objects_found"}),
    ]
    exps += version_expectations()
    exps += [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in REQUIRED_COLUMNS]
    exps += enriched_expectations()
    exps += [
        gxe.ExpectColumnValuesToBeBetween(
            column="price_amount", min_value=0, strict_min=True, max_value=float(MAX_AMOUNT)
        ),
        gxe.ExpectColumnValuesToBeInSet(column="price_currency", value_set=list(CURRENCIES)),
    ]
    exps += [gxe.ExpectColumnValuesToBeInSet(column=c, value_set=list(v)) for c, v in ENUM_COLUMNS.items()]
    exps += [
        gxe.ExpectColumnValuesToNotMatchRegexList(
            column=c, regex_list=list(IP_REGEXES), meta={"check": "no_ip_address", **_pii_meta()}
        )
        for c in scan
    ]
    return gx.ExpectationSuite(name="s3.analytics_objects", expectations=exps)


# --------------------------------------------------------------------------- warehouse raw
def warehouse_raw_suite(schema: str = RAW_SCHEMA, table: str = RAW_TABLE) -> gx.ExpectationSuite:
    """Suite for the warehouse raw table (``raw.mtx_transactions`` by default)."""
    exps: list[Any] = [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=[c.name for c in COLUMNS]),
    ]
    exps += version_expectations()
    exps += [gxe.ExpectColumnValuesToNotBeNull(column=c.name) for c in COLUMNS if not c.nullable]
    exps += enriched_expectations()
    exps += [
        gxe.ExpectColumnValuesToBeBetween(
            column="price_amount", min_value=0, strict_min=True, max_value=float(MAX_AMOUNT)
        ),
        gxe.ExpectColumnValuesToBeInSet(column="price_currency", value_set=list(CURRENCIES)),
    ]
    exps += [gxe.ExpectColumnValuesToBeInSet(column=c, value_set=list(v)) for c, v in ENUM_COLUMNS.items()]
    return gx.ExpectationSuite(name=f"warehouse.{schema}.{table}", expectations=exps)


# --------------------------------------------------------------------------- marts
@dataclass(frozen=True)
class Mart:
    name: str
    columns: tuple[str, ...]
    unique_columns: tuple[str, ...]  # columns with a dbt `unique` test
    grain: tuple[str, ...] | None  # unique_combination_of_columns, if any
    non_negative: tuple[str, ...]


MARTS: tuple[str, ...] = (
    "fct_transactions",
    "fct_transaction_status_history",
    "dim_items",
    "dim_players",
    "fct_daily_revenue",
    "fct_hourly_revenue",
    "fct_item_performance",
    "fct_player_cohorts",
    "fct_payment_mix",
)


def _non_negative(name: str, data_type: str) -> bool:
    numeric = data_type.startswith(("numeric", "bigint", "integer", "int", "decimal"))
    return numeric and (name == "amount" or name.endswith(("_usd", "_count")) or name == "units_sold")


def _tests_named(tests: Iterable[Any], name: str) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    for t in tests or ():
        if t == name:
            found.append({})
        elif isinstance(t, Mapping) and name in t:
            found.append(t[name] or {})
    return found


@cache
def mart_definitions(marts_dir: Path = DBT_MARTS_DIR) -> dict[str, Mart]:
    """Columns, keys and amount columns of every mart, read from the dbt YAML."""
    out: dict[str, Mart] = {}
    for path in sorted(marts_dir.rglob("*.yml")):
        doc = YAML(typ="safe", pure=True).load(path.read_text()) or {}
        for model in doc.get("models") or ():
            cols = model.get("columns") or []
            grain = None
            for t in _tests_named(model.get("data_tests") or model.get("tests") or (), "unique_combination_of_columns"):
                args = t.get("arguments", t)
                grain = tuple(args["combination_of_columns"])
            unique = tuple(
                c["name"] for c in cols if _tests_named(c.get("data_tests") or c.get("tests") or (), "unique")
            )
            out[model["name"]] = Mart(
                name=model["name"],
                columns=tuple(c["name"] for c in cols),
                unique_columns=unique,
                grain=grain,
                non_negative=tuple(c["name"] for c in cols if _non_negative(c["name"], str(c.get("data_type", "")))),
            )
    return out


def mart_suite(mart: Mart, schema: str = MARTS_SCHEMA) -> gx.ExpectationSuite:
    exps: list[Any] = [gxe.ExpectTableColumnsToMatchSet(column_set=list(mart.columns), exact_match=True)]
    for col in mart.unique_columns:
        exps += [gxe.ExpectColumnValuesToBeUnique(column=col), gxe.ExpectColumnValuesToNotBeNull(column=col)]
    if mart.grain:
        exps.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(mart.grain)))
    exps += [gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0) for c in mart.non_negative]
    for col, values in ENUM_COLUMNS.items():
        if col in mart.columns:
            exps.append(gxe.ExpectColumnValuesToBeInSet(column=col, value_set=list(values)))
    if {"gross_usd", "refunded_usd", "net_usd"} <= set(mart.columns):  # revenue: refunds and net within gross
        exps += [
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="gross_usd", column_B=b, or_equal=True)
            for b in ("refunded_usd", "net_usd")
        ]
    return gx.ExpectationSuite(name=f"marts.{schema}.{mart.name}", expectations=exps)


def marts_suites(schema: str = MARTS_SCHEMA, marts: Iterable[str] = MARTS) -> dict[str, gx.ExpectationSuite]:
    """One suite per mart (key uniqueness, non-negative amounts and counts, exact columns, enums)."""
    defs = mart_definitions()
    missing = [m for m in marts if m not in defs]
    if missing:
        raise LookupError(f"marts not declared in the dbt YAML: {missing}")
    return {m: mart_suite(defs[m], schema) for m in marts}


#: Columns of the one-row reconciliation frame (see ``checkpoint.reconciliation_frame``).
RECONCILIATION_COLUMNS: tuple[str, ...] = (
    "raw_rows",
    "fct_transactions_rows",
    "compliance_rows",
    "dead_letter_count",
    "raw_minus_fct_rows",
    "compliance_minus_fct_rows",
    "daily_revenue_minus_fct_usd",
    "daily_transaction_count_minus_fct_rows",
    "raw_amount_minus_fct_amount",
    "hourly_net_minus_fct_usd",
    "revenue_net_minus_gross_less_refunded_usd",
)


def reconciliation_suite(dead_letter_count: int, tolerance_usd: float = 0.005) -> gx.ExpectationSuite:
    """Totals agree: raw (its current versions) = fct_transactions = sum of fct_daily_revenue = sum of
    fct_hourly_revenue; net = gross - refunded in the revenue marts; compliance - fct within the DLQ."""

    def zero(column: str, tol: float = 0) -> Any:
        return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=-tol, max_value=tol)

    exps: list[Any] = [
        gxe.ExpectTableColumnsToMatchSet(column_set=list(RECONCILIATION_COLUMNS), exact_match=True),
        gxe.ExpectTableRowCountToEqual(value=1),
        zero("raw_minus_fct_rows"),
        zero("daily_transaction_count_minus_fct_rows"),
        zero("daily_revenue_minus_fct_usd", tolerance_usd),
        zero("raw_amount_minus_fct_amount", tolerance_usd),
        zero("hourly_net_minus_fct_usd", tolerance_usd),
        zero("revenue_net_minus_gross_less_refunded_usd"),
        # Every stored transaction reaches the warehouse, except those parked in the dead-letter queue.
        gxe.ExpectColumnValuesToBeBetween(
            column="compliance_minus_fct_rows", min_value=0, max_value=max(0, int(dead_letter_count))
        ),
    ]
    return gx.ExpectationSuite(name="marts.reconciliation", expectations=exps)
