"""The database roles: who may do what in the compliance store and in the warehouse.

Created by the master (admin) user at deploy time only (``provision_compliance``,
``provision_warehouse``); runtime functions log in as one of the login roles below,
never as the master. The same names exist locally and in AWS.

Compliance store (RDS PostgreSQL):

- ``mtx_compliance_migrator``: owns the ``compliance`` and ``integrity`` schemas and every object in
  them; runs the versioned migrations (deploy time only).
- ``mtx_compliance_writer``: the store functions (store_compliance, process_chunk, dead_letter_chunk,
  undo_partial_write): USAGE on ``compliance``, SELECT/INSERT/DELETE on ``compliance.transactions``
  (DELETE: a failed chunk or a partial write is undone), TEMPORARY on the database (process_chunk's
  staging table). No DDL, no UPDATE, owns nothing.
- ``mtx_compliance_reader``: the analytics side: no access to the ``compliance`` schema at all;
  EXECUTE on ``integrity.transaction_count()``, a SECURITY DEFINER function owned by the migrator
  that returns a count and nothing else.

Warehouse (Redshift; the local PostgreSQL stands in for it):

- ``mtx_warehouse_transformer``: the Glue job and dbt: CREATE on the database, owns ``raw`` and the
  schemas dbt builds.
- ``mtx_analytics_reader``: the analytics API: a member of the analysts role ``mtx_analysts``, to
  which dbt's ``grants:`` config gives SELECT on the marts; SELECT on the raw table (the PII-free
  analytics copy: the API reports its freshness and row count). Nothing else.

Passwords are never sent in clear text: libpq hashes them (SCRAM-SHA-256 on PostgreSQL, MD5 on
Redshift) before ``CREATE/ALTER ROLE``, so the RDS DDL log (log_statement=ddl) holds no password.
"""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
from psycopg import sql

COMPLIANCE_MIGRATOR = "mtx_compliance_migrator"
COMPLIANCE_WRITER = "mtx_compliance_writer"
COMPLIANCE_READER = "mtx_compliance_reader"
WAREHOUSE_TRANSFORMER = "mtx_warehouse_transformer"
WAREHOUSE_READER = "mtx_analytics_reader"
#: The analysts' group role in the warehouse: dbt grants SELECT on the marts to it (MTX_ANALYSTS_ROLE).
ANALYSTS_ROLE = "mtx_analysts"

COMPLIANCE_ROLES = (COMPLIANCE_MIGRATOR, COMPLIANCE_WRITER, COMPLIANCE_READER)
WAREHOUSE_ROLES = (WAREHOUSE_TRANSFORMER, WAREHOUSE_READER)
COMPLIANCE_SCHEMAS = ("compliance", "integrity")
#: Warehouse schemas the transformer owns besides dbt's own: the raw table, the Glue job's bookmarks.
TRANSFORMER_SCHEMAS = ("raw", "etl")


class RoleSetupError(RuntimeError):
    """A role could not be provisioned (a missing password, an unknown engine)."""


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def _hashed(conn: psycopg.Connection, role: str, password: str, engine: str) -> str:
    """The password as the server stores it: hashed by libpq on this side of the connection."""
    if not password:
        raise RoleSetupError(f"no password for role {role}")
    algorithm = b"md5" if engine == "redshift" else b"scram-sha-256"
    return conn.pgconn.encrypt_password(password.encode(), role.encode(), algorithm).decode()


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    # pg_user exists on both PostgreSQL and Redshift (pg_roles does not on Redshift)
    return conn.execute("select 1 from pg_user where usename = %s", (role,)).fetchone() is not None


def ensure_login_role(conn: psycopg.Connection, role: str, password: str, engine: str = "postgres") -> None:
    """Create the login role, or set its password: the secret is the source of truth."""
    hashed = sql.Literal(_hashed(conn, role, password, engine))
    if _role_exists(conn, role):
        conn.execute(sql.SQL("alter user {} password {}").format(_ident(role), hashed))
    elif engine == "redshift":
        conn.execute(sql.SQL("create user {} password {}").format(_ident(role), hashed))
    else:
        conn.execute(
            sql.SQL("create role {} login nosuperuser nocreatedb nocreaterole password {}").format(_ident(role), hashed)
        )


def provision_compliance(conn: psycopg.Connection, dbname: str, passwords: Mapping[str, str]) -> None:
    """As the master user, autocommit: the three login roles, what they may reach, the schemas."""
    for role in COMPLIANCE_ROLES:
        ensure_login_role(conn, role, passwords.get(role, ""))
    db = _ident(dbname)
    migrator, writer, reader = (_ident(r) for r in COMPLIANCE_ROLES)
    conn.execute(sql.SQL("revoke all on database {} from public").format(db))
    conn.execute(sql.SQL("grant connect on database {} to {}, {}, {}").format(db, migrator, writer, reader))
    conn.execute(sql.SQL("grant create on database {} to {}").format(db, migrator))
    conn.execute(sql.SQL("grant temporary on database {} to {}").format(db, writer))
    conn.execute("revoke create on schema public from public")
    # the master must be able to act on the migrator's objects (RDS: not a superuser)
    conn.execute(sql.SQL("grant {} to current_user").format(migrator))
    for schema in COMPLIANCE_SCHEMAS:
        conn.execute(sql.SQL("create schema if not exists {} authorization {}").format(_ident(schema), migrator))
        conn.execute(sql.SQL("alter schema {} owner to {}").format(_ident(schema), migrator))
        conn.execute(sql.SQL("revoke all on schema {} from public").format(_ident(schema)))
    # objects an earlier deployment created as the master (or as the old application user) move over
    owned_elsewhere = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = 'compliance' and c.relkind in ('r', 'p') and pg_get_userbyid(c.relowner) <> %s",
        (COMPLIANCE_MIGRATOR,),
    ).fetchall()
    for (table,) in owned_elsewhere:
        conn.execute(sql.SQL("alter table {} owner to {}").format(sql.Identifier("compliance", table), migrator))


def provision_warehouse(conn: psycopg.Connection, dbname: str, passwords: Mapping[str, str], engine: str) -> None:
    """As the warehouse admin, autocommit: the transformer and the reader, the analysts role, raw's owner.

    SQL both PostgreSQL and Redshift run, except where noted (``engine`` is the secret's ``engine``)."""
    if engine not in ("postgres", "redshift"):
        raise RoleSetupError(f"engine {engine!r} is neither postgres nor redshift")
    for role in WAREHOUSE_ROLES:
        ensure_login_role(conn, role, passwords.get(role, ""), engine)
    db = _ident(dbname)
    transformer, reader, analysts = _ident(WAREHOUSE_TRANSFORMER), _ident(WAREHOUSE_READER), _ident(ANALYSTS_ROLE)
    if engine == "redshift":
        if not conn.execute("select 1 from svv_roles where role_name = %s", (ANALYSTS_ROLE,)).fetchone():
            conn.execute(sql.SQL("create role {}").format(analysts))
        conn.execute(sql.SQL("grant role {} to {}").format(analysts, reader))
    else:
        if not conn.execute("select 1 from pg_roles where rolname = %s", (ANALYSTS_ROLE,)).fetchone():
            conn.execute(sql.SQL("create role {} nologin").format(analysts))
        conn.execute(sql.SQL("grant {} to {}").format(analysts, reader))
        conn.execute(sql.SQL("revoke all on database {} from public").format(db))
        conn.execute(sql.SQL("grant connect on database {} to {}, {}").format(db, transformer, reader))
        conn.execute(sql.SQL("grant temporary on database {} to {}").format(db, transformer))
        conn.execute(sql.SQL("grant {} to current_user").format(transformer))
    conn.execute(sql.SQL("grant create on database {} to {}").format(db, transformer))
    conn.execute("revoke create on schema public from public")
    conn.execute(sql.SQL("create schema if not exists raw authorization {}").format(transformer))
    # the schemas the Glue job writes (raw, and etl for its bookmarks), with the tables an earlier
    # deployment created as the admin, move to the transformer (pg_tables: both engines have it)
    for schema in TRANSFORMER_SCHEMAS:
        if conn.execute("select 1 from pg_namespace where nspname = %s", (schema,)).fetchone() is None:
            continue
        conn.execute(sql.SQL("alter schema {} owner to {}").format(_ident(schema), transformer))
        tables = conn.execute(
            "select tablename from pg_tables where schemaname = %s and tableowner <> %s",
            (schema, WAREHOUSE_TRANSFORMER),
        ).fetchall()
        for (table,) in tables:
            conn.execute(sql.SQL("alter table {} owner to {}").format(sql.Identifier(schema, table), transformer))


def prepare_warehouse(conn: psycopg.Connection, raw_table_ddl: str) -> None:
    """As the transformer, autocommit: the raw table (DDL from the contract) and the reader's grant on it."""
    conn.execute(raw_table_ddl.encode())
    reader = _ident(WAREHOUSE_READER)
    conn.execute(sql.SQL("grant usage on schema raw to {}").format(reader))
    conn.execute(sql.SQL("grant select on raw.mtx_transactions to {}").format(reader))
