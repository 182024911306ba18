"""Least-privilege database roles on the local stack (lambdas/migrate_databases/roles.py, migration 003).

Every role logs in with the password in its own secret, as the runtime functions do; each forbidden
action must fail with PostgreSQL's permission error (SQLSTATE 42501) or a refused connection, and each
allowed one must work.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from contracts.compliance import compliance_row
from lambdas.analytics_api import warehouse
from lambdas.analytics_api.errors import QueryFailed
from lambdas.migrate_databases import roles
from lambdas.migrate_databases.handler import migrate_all
from lambdas.store_compliance.handler import INSERT_SQL
from lambdas.store_compliance.migrate import SchemaNotMigrated, check_schema, latest_version
from orchestration.cli import main as cli
from orchestration.runtime.postgres import SUPERUSER
from orchestration.runtime.stack import LocalStack
from tests.helpers import seed_tx

pytestmark = pytest.mark.integration


def _as(stack: LocalStack, secret_id: str, db: str | None = None) -> psycopg.Connection:
    """A connection with the credentials of one secret, as lambdas/common/db.py opens it."""
    value = json.loads(stack.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])
    return psycopg.connect(
        host=value["host"], port=int(value["port"]), user=value["username"], password=value["password"],
        dbname=db or value["dbname"], autocommit=True, connect_timeout=5,
    )  # fmt: skip


def _denied(conn: psycopg.Connection, statement: str | sql.Composable, params: tuple[object, ...] = ()) -> str:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as err:
        conn.execute(statement, params or None)  # type: ignore[arg-type]
    return str(err.value)


@pytest.fixture(scope="module")
def ids(stack: LocalStack) -> dict[str, str]:
    s = stack.require_settings()
    return {
        "writer": s.compliance_writer_secret_id,
        "compliance_reader": s.compliance_reader_secret_id,
        "migrator": s.compliance_migrator_secret_id,
        "transformer": s.warehouse_transformer_secret_id,
        "reader": s.warehouse_reader_secret_id,
    }


@pytest.fixture(scope="module")
def mart(stack: LocalStack) -> Iterator[str]:
    """A mart as dbt leaves it: built by the transformer, SELECT granted to the analysts role (dbt grants)."""
    schema = f"roles_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.dsn("warehouse"), autocommit=True) as conn:
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("create table {} (day date, revenue numeric)").format(sql.Identifier(schema, "fct_x")))
        conn.execute(sql.SQL("insert into {} values ('2025-01-01', 10)").format(sql.Identifier(schema, "fct_x")))
        analysts = sql.Identifier(roles.ANALYSTS_ROLE)
        conn.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(schema), analysts))
        conn.execute(sql.SQL("grant select on {} to {}").format(sql.Identifier(schema, "fct_x"), analysts))
    yield f"{schema}.fct_x"
    with psycopg.connect(stack.dsn("warehouse"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))


# --------------------------------------------------------------------------- the master is no runtime credential
def test_every_runtime_secret_is_a_plain_login_role_not_the_master(stack: LocalStack, ids: dict[str, str]) -> None:
    with psycopg.connect(stack.pg.dsn("compliance"), autocommit=True) as admin:
        for name, secret_id in ids.items():
            with _as(stack, secret_id) as conn:
                user = conn.execute("select current_user").fetchone()[0]  # type: ignore[index]
            assert user != SUPERUSER, name
            flags = admin.execute(
                "select rolsuper, rolcreaterole, rolcreatedb, rolbypassrls from pg_roles where rolname = %s", (user,)
            ).fetchone()
            assert flags == (False, False, False, False), (name, user, flags)


# --------------------------------------------------------------------------- compliance writer
def test_writer_stores_reads_and_deletes_rows_and_grants_nothing(stack: LocalStack, ids: dict[str, str]) -> None:
    tx = seed_tx()
    with _as(stack, ids["writer"]) as conn:
        assert conn.execute(INSERT_SQL, compliance_row(tx, "roles-test")).rowcount == 1
        got = conn.execute(
            "select card_last4 is not distinct from %s from compliance.transactions where transaction_id = %s",
            (tx["payment_details"].get("card_last4"), tx["transactionId"]),
        ).fetchone()
        assert got == (True,)
        # process_chunk's staging table: TEMPORARY on the database, LIKE needs SELECT
        with conn.transaction():
            conn.execute(
                "create temporary table staging (like compliance.transactions including defaults) on commit drop"
            )
        deleted = conn.execute("delete from compliance.transactions where transaction_id = %s", (tx["transactionId"],))
        assert deleted.rowcount == 1
        assert check_schema(conn) == latest_version()
        # a grant from a non-owner is a warning in PostgreSQL, not an error: it must give nothing
        conn.execute("grant select on compliance.transactions to public")
        conn.execute(
            sql.SQL("grant select on compliance.transactions to {}").format(sql.Identifier(roles.COMPLIANCE_READER))
        )
    with _as(stack, ids["compliance_reader"]) as reader:
        _denied(reader, "select count(*) from compliance.transactions")


@pytest.mark.parametrize(
    "statement",
    [
        "create table compliance.sneaky (x int)",
        "drop table compliance.transactions",
        "alter table compliance.transactions add column leaked text",
        "alter table compliance.transactions drop constraint transactions_pkey",
        "create index sneaky_idx on compliance.transactions (card_last4)",
        "truncate compliance.transactions",
        # the writer moves rows along the lifecycle (UPDATE, migration 005); the history and the moves are the
        # database's own: only its triggers write them
        "update compliance.transaction_versions set raw = '{}'",
        "delete from compliance.transaction_versions",
        "insert into compliance.lifecycle_moves (from_status, to_status) values ('failed', 'completed')",
        "create schema sneaky",
        "create table public.sneaky (x int)",
        "insert into compliance.schema_migrations (version, name) values (999, 'x')",
        "select integrity.transaction_count()",
    ],
)
def test_writer_runs_no_ddl_and_nothing_beyond_its_grants(
    stack: LocalStack, ids: dict[str, str], statement: str
) -> None:
    with _as(stack, ids["writer"]) as conn:
        # DROP/ALTER/INDEX need ownership ("must be owner"): 42501 as well
        _denied(conn, statement)


def test_writer_cannot_read_another_schema_or_the_warehouse(stack: LocalStack, ids: dict[str, str]) -> None:
    with psycopg.connect(stack.dsn("compliance"), autocommit=True) as owner:  # the migrator
        owner.execute("create schema if not exists roles_other")
        owner.execute("create table if not exists roles_other.secrets (x int)")
    with _as(stack, ids["writer"]) as conn:
        assert "roles_other" in _denied(conn, "select * from roles_other.secrets")
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        _as(stack, ids["writer"], db="warehouse").close()


# --------------------------------------------------------------------------- readers
def test_compliance_reader_gets_counts_and_no_row(stack: LocalStack, ids: dict[str, str]) -> None:
    with psycopg.connect(stack.dsn("compliance")) as owner:
        (expected,) = owner.execute("select count(*) from compliance.transactions").fetchone()  # type: ignore[misc]
        privileges = owner.execute(
            "select has_schema_privilege(%(r)s, 'compliance', 'usage'),"
            " has_table_privilege(%(r)s, 'compliance.transactions', 'select, insert, update, delete, truncate')",
            {"r": roles.COMPLIANCE_READER},
        ).fetchone()
        assert privileges == (False, False)
    with _as(stack, ids["compliance_reader"]) as conn:
        assert conn.execute("select integrity.transaction_count()").fetchone() == (expected,)
        assert "compliance" in _denied(conn, "select card_last4, client_ip from compliance.transactions")
        assert "compliance" in _denied(conn, "select count(*) from compliance.schema_migrations")
        _denied(conn, "create table integrity.sneaky (x int)")
        # the definer function cannot be replaced by the reader to run its own SQL as the owner
        _denied(
            conn,
            "create or replace function integrity.transaction_count() returns bigint language sql as 'select 0'",
        )


def test_warehouse_reader_reads_marts_and_writes_nothing(stack: LocalStack, ids: dict[str, str], mart: str) -> None:
    schema, _ = mart.split(".")
    with _as(stack, ids["reader"]) as conn:
        assert conn.execute(f"select revenue from {mart}").fetchall() == [(10,)]
        conn.execute("select count(*), max(loaded_at) from raw.mtx_transactions")  # the API's freshness and counts
        _denied(conn, f"insert into {mart} values ('2025-01-02', 1)")
        _denied(conn, f"delete from {mart}")
        _denied(conn, f"drop table {mart}")
        _denied(conn, f"create table {schema}.sneaky (x int)")
        _denied(conn, "insert into raw.mtx_transactions (transaction_id) values ('x')")
        _denied(conn, "create schema sneaky")
        _denied(conn, "create table public.sneaky (x int)")
    # no access to the compliance database at all (in AWS it is another server)
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        _as(stack, ids["reader"], db="compliance").close()


def test_transformer_builds_in_the_warehouse_and_cannot_reach_compliance(
    stack: LocalStack, ids: dict[str, str]
) -> None:
    with _as(stack, ids["transformer"]) as conn:
        conn.execute("create schema if not exists roles_dbt_like")
        conn.execute("create table if not exists roles_dbt_like.t as select 1 as x")
        conn.execute("drop schema roles_dbt_like cascade")
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        _as(stack, ids["transformer"], db="compliance").close()


# --------------------------------------------------------------------------- the migration step
def test_migration_step_is_idempotent_and_the_only_user_of_the_master(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    result = migrate_all(stack.require_settings())
    assert result == {"compliance_migrations_applied": [], "warehouse": "ready"}
    # `mtx migrate` against the running stack runs the same step
    assert cli.main(["--home", str(stack.home), "migrate"]) == 0
    assert "compliance migrations applied: none (up to date)" in capsys.readouterr().out
    with psycopg.connect(stack.pg.dsn("compliance"), autocommit=True) as admin:
        owners = dict(
            admin.execute(
                "select n.nspname || '.' || c.relname, pg_get_userbyid(c.relowner) from pg_class c"
                " join pg_namespace n on n.oid = c.relnamespace where n.nspname in ('compliance', 'integrity')"
                " and c.relkind = 'r'"
            ).fetchall()
        )
        assert owners == {
            "compliance.transactions": roles.COMPLIANCE_MIGRATOR,
            "compliance.schema_migrations": roles.COMPLIANCE_MIGRATOR,
            "compliance.transaction_versions": roles.COMPLIANCE_MIGRATOR,
            "compliance.lifecycle_moves": roles.COMPLIANCE_MIGRATOR,
        }
        (definer,) = admin.execute(
            "select prosecdef and pg_get_userbyid(proowner) = %s from pg_proc where proname = 'transaction_count'",
            (roles.COMPLIANCE_MIGRATOR,),
        ).fetchone()  # type: ignore[misc]
        assert definer is True


def test_store_functions_refuse_an_unmigrated_schema(stack: LocalStack) -> None:
    name = f"roles_unmigrated_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(stack.pg.dsn(), autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(stack.pg.dsn(name)) as conn, pytest.raises(SchemaNotMigrated, match="mtx migrate"):
            check_schema(conn)
    finally:
        with psycopg.connect(stack.pg.dsn(), autocommit=True) as admin:
            admin.execute(sql.SQL("drop database {}").format(sql.Identifier(name)))


def test_objects_an_earlier_deployment_made_as_the_master_move_to_their_owner_role(stack: LocalStack) -> None:
    """Before these roles, the migrations ran as the master user: the step hands its tables over."""
    with psycopg.connect(stack.pg.dsn("compliance"), autocommit=True) as admin:
        admin.execute("create table if not exists compliance.legacy_by_master (x int)")
    with psycopg.connect(stack.pg.dsn("warehouse"), autocommit=True) as admin:
        admin.execute("create schema if not exists etl")
        admin.execute("alter schema etl owner to current_user")
        admin.execute("create table if not exists etl.legacy_by_master (x int)")
    try:
        migrate_all(stack.require_settings())
        with psycopg.connect(stack.pg.dsn("compliance")) as admin:
            owner = admin.execute("select tableowner from pg_tables where tablename = 'legacy_by_master'").fetchone()
            assert owner == (roles.COMPLIANCE_MIGRATOR,)
        with psycopg.connect(stack.pg.dsn("warehouse")) as admin:
            owners = admin.execute(
                "select (select nspowner::regrole::text from pg_namespace where nspname = 'etl'),"
                " (select tableowner from pg_tables where schemaname = 'etl' and tablename = 'legacy_by_master')"
            ).fetchone()
            assert owners == (roles.WAREHOUSE_TRANSFORMER, roles.WAREHOUSE_TRANSFORMER)
    finally:
        with psycopg.connect(stack.dsn("compliance"), autocommit=True) as owner_conn:
            owner_conn.execute("drop table if exists compliance.legacy_by_master")
        with psycopg.connect(stack.dsn("warehouse"), autocommit=True) as owner_conn:
            owner_conn.execute("drop table if exists etl.legacy_by_master")


def test_the_analytics_api_logs_in_as_the_readers_alone(stack: LocalStack) -> None:
    s = stack.require_settings()
    cfg = warehouse.config()
    assert (cfg.warehouse_secret_id, cfg.compliance_secret_id) == (
        s.warehouse_reader_secret_id,
        s.compliance_reader_secret_id,
    )
    assert warehouse.fetch(cfg.warehouse_secret_id, "select current_user as u") == [{"u": roles.WAREHOUSE_READER}]
    assert warehouse.fetch(cfg.compliance_secret_id, "select current_user as u") == [{"u": roles.COMPLIANCE_READER}]
    # what data_integrity_analysis runs works; the table itself is out of reach (a stable error, no detail)
    assert warehouse.fetch(cfg.compliance_secret_id, "select integrity.transaction_count() as n")[0]["n"] >= 0
    with pytest.raises(QueryFailed):
        warehouse.fetch(cfg.compliance_secret_id, "select count(*) from compliance.transactions")
