"""The flattened (warehouse) shape of an analytics record, declared once.

Consumers: the Glue job's Spark schema and final ``select``, the warehouse raw
table DDL, dbt source column types and the Great Expectations suites.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.pii import PII_FIELDS


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # PostgreSQL and Redshift both accept it
    source: str  # dotted wire path in the analytics record, or "" for a derived column
    nullable: bool = False
    description: str = ""


RAW_SCHEMA = "raw"
RAW_TABLE = "mtx_transactions"

COLUMNS: tuple[Column, ...] = (
    Column("transaction_id", "varchar(64)", "transactionId", description="Transaction id from the game server"),
    Column("user_id", "varchar(64)", "user_id", description="Game account id"),
    Column("game", "varchar(120)", "game", description="Game title"),
    Column("item_id", "varchar(64)", "item_purchased.item_id", description="Shop item id"),
    Column("item_name", "varchar(120)", "item_purchased.item_name", description="Shop item name"),
    Column("item_type", "varchar(32)", "item_purchased.item_type", description="Item type"),
    Column("price_amount", "numeric(18,3)", "item_purchased.price.amount", description="Amount paid"),
    Column("price_currency", "char(3)", "item_purchased.price.currency", description="ISO 4217 currency"),
    Column("payment_method", "varchar(32)", "payment_details.payment_method", description="Payment method"),
    Column("payment_gateway", "varchar(32)", "payment_details.gateway", description="Payment gateway"),
    Column("transaction_status", "varchar(16)", "payment_details.transaction_status", description="Status"),
    Column("server_region", "varchar(32)", "server_region", description="Game server region"),
    Column("event_at", "timestamp", "event_timestamp", description="Purchase time, UTC"),
    Column("ingested_at", "timestamp", "ingested_at", description="Time the pipeline stored it, UTC"),
    Column("event_date", "date", "", description="UTC date of event_at"),
    Column("source_partition", "date", "", description="dt= partition of the S3 object it came from"),
    Column("loaded_at", "timestamp", "", description="Time the Glue job loaded the row, UTC"),
)

#: The Enrich stage's fields (lambdas/common/enrich), top-level keys of the analytics record: part of its
#: analytics shape, never of what a producer sends. Nullable in the warehouse: analytics objects written
#: before the stage existed have none (the Glue job loads them as they are); the stage itself always sets
#: all of them but ``country`` (unknown for private or unassigned addresses), ``item_category`` and
#: ``list_price_usd`` (an item the catalogue does not describe so).
ENRICHED: tuple[Column, ...] = (
    Column("amount_usd", "numeric(18,4)", "amount_usd", True, "Amount paid in US dollars at the event date's rate"),
    Column("usd_per_unit", "numeric(18,8)", "usd_per_unit", True, "US dollars per unit of the currency used"),
    Column("fx_rate_date", "date", "fx_rate_date", True, "Date of the FX rate used (the latest on or before)"),
    Column("country", "char(2)", "country", True, "ISO 3166-1 country of the client IP (the IP is never kept)"),
    Column("region", "varchar(24)", "region", True, "Coarse region of that country, or unknown"),
    Column("item_category", "varchar(32)", "item_category", True, "Catalogue category of the item"),
    Column("list_price_usd", "numeric(18,3)", "list_price_usd", True, "Catalogue list price in US dollars"),
    Column("contract_version", "varchar(16)", "contract_version", True, "Contract version it was validated against"),
    Column("application_id", "varchar(64)", "application_id", True, "Producing game or application id"),
    Column("is_first_purchase", "boolean", "is_first_purchase", True, "The player's first purchase"),
)
COLUMNS = (*COLUMNS, *ENRICHED)
#: The coarse regions of ``region`` (lambdas/common/enrich/geo.py maps each country to one).
REGIONS: tuple[str, ...] = ("americas", "europe", "middle_east_africa", "asia_pacific", "unknown")

PRIMARY_KEY = "transaction_id"


#: Redshift's physical design of the raw table: distributed on the key the load's merge and
#: the `unique` test join and group on (the merge's staging table, created LIKE it, shares
#: it), sorted by load time, which every incremental dbt run filters on (zone maps skip the
#: blocks loaded before its watermark: what the BRIN index does on PostgreSQL).
REDSHIFT_RAW_TABLE_DESIGN = f"diststyle key distkey ({PRIMARY_KEY}) compound sortkey (loaded_at)"


def raw_table_ddl(schema: str = RAW_SCHEMA, table: str = RAW_TABLE, engine: str = "postgres") -> str:
    """The raw table's DDL; ``engine`` "redshift" adds its distribution and sort keys."""
    cols = ",\n  ".join(f"{c.name} {c.sql_type}{'' if c.nullable else ' not null'}" for c in COLUMNS)
    ddl = f"create table if not exists {schema}.{table} (\n  {cols},\n  primary key ({PRIMARY_KEY})\n)"
    return f"{ddl}\n{REDSHIFT_RAW_TABLE_DESIGN}" if engine == "redshift" else ddl


def _assert_no_pii() -> None:
    pii_paths = {".".join(p) for p in PII_FIELDS}
    leaked = [c.name for c in COLUMNS if c.source in pii_paths]
    if leaked:  # pragma: no cover - guards edits of this file
        raise RuntimeError(f"warehouse columns map PII fields: {leaked}")


_assert_no_pii()
