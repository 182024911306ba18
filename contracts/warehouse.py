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
    #: SQL literal a row without a value gets: the Glue job's coalesce for records that lack the field, and the
    #: ``default`` of the column when schema evolution adds it to a table whose rows predate it.
    default: str | None = None


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
#: The version fields of the analytics record (``contracts.lifecycle.VERSION_FIELDS``): one raw row per stored
#: version of a transaction. An object written before versions has none of them: it is version 1 (the job
#: coalesces, and schema evolution adds ``version`` with ``default 1`` so rows loaded before it are version 1
#: too); ``previous_status`` is null on version 1; ``status_updated_at`` is null on rows stored before versions
#: (dbt's staging reads ``ingested_at`` for it, the time version 1 was stored).
VERSIONED: tuple[Column, ...] = (
    Column("version", "integer", "version", False, "Version of the transaction (1 = first stored)", "1"),
    Column("previous_status", "varchar(16)", "previous_status", True, "Status the version moved from (null: v1)"),
    Column("status_updated_at", "timestamp", "status_updated_at", True, "Time the version was stored, UTC"),
)
COLUMNS = (*COLUMNS, *ENRICHED, *VERSIONED)
#: The coarse regions of ``region`` (lambdas/common/enrich/geo.py maps each country to one).
REGIONS: tuple[str, ...] = ("americas", "europe", "middle_east_africa", "asia_pacific", "unknown")

#: The transaction's own id: what every version of one transaction shares.
TRANSACTION_KEY = "transaction_id"
#: One raw row per stored version: the load's merge key and the raw table's primary key.
PRIMARY_KEY: tuple[str, ...] = (TRANSACTION_KEY, "version")
#: The primary key of raw tables created before versions (schema evolution replaces it with PRIMARY_KEY).
PRIMARY_KEY_BEFORE_VERSIONS: tuple[str, ...] = (TRANSACTION_KEY,)


#: Redshift's physical design of the raw table: distributed on the transaction id, the leading column of
#: the key the load's merge and the `unique` test join and group on, so every version of one transaction
#: lives on one slice (dbt's current-version window and the history join need no redistribution; the
#: merge's staging table, created LIKE it, shares it), sorted by load time, which every incremental dbt run
#: filters on (zone maps skip the blocks loaded before its watermark: what the BRIN index does on PostgreSQL).
REDSHIFT_RAW_TABLE_DESIGN = f"diststyle key distkey ({TRANSACTION_KEY}) compound sortkey (loaded_at)"


def column_ddl(column: Column) -> str:
    """``name type [default x] [not null]`` of one column."""
    default = f" default {column.default}" if column.default is not None else ""
    return f"{column.name} {column.sql_type}{default}{'' if column.nullable else ' not null'}"


def raw_table_ddl(schema: str = RAW_SCHEMA, table: str = RAW_TABLE, engine: str = "postgres") -> str:
    """The raw table's DDL; ``engine`` "redshift" adds its distribution and sort keys."""
    cols = ",\n  ".join(column_ddl(c) for c in COLUMNS)
    ddl = f"create table if not exists {schema}.{table} (\n  {cols},\n  primary key ({', '.join(PRIMARY_KEY)})\n)"
    return f"{ddl}\n{REDSHIFT_RAW_TABLE_DESIGN}" if engine == "redshift" else ddl


def _assert_no_pii() -> None:
    pii_paths = {".".join(p) for p in PII_FIELDS}
    leaked = [c.name for c in COLUMNS if c.source in pii_paths]
    if leaked:  # pragma: no cover - guards edits of this file
        raise RuntimeError(f"warehouse columns map PII fields: {leaked}")


_assert_no_pii()
