"""MigrateDatabases: the deploy-time step, the only function that reads the master (admin) secrets.

In AWS Terraform invokes it once per apply that changes a migration or a role password
(modules/database ``aws_lambda_invocation``); locally ``mtx migrate`` and the stack's start run the
same code. In order:

1. as the compliance master: the migrator, writer and reader login roles (passwords from their
   secrets), the database and schema grants (roles.provision_compliance);
2. as the migrator: the versioned migrations (lambdas/store_compliance/migrations), which grant the
   writer its table rights and the reader its counts function;
3. as the warehouse admin: the transformer and the reader, the analysts role, the raw schema;
4. as the transformer: the raw table (DDL from the contract) and the reader's SELECT on it.

Idempotent: every statement is "if not exists" or a grant; a role's password is set to its secret's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from contracts.config import Settings, get_settings
from contracts.warehouse import raw_table_ddl
from lambdas.common.errors import DatabaseUnavailable, stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.secrets import Secret, get_secret
from lambdas.common.tracing import correlated, get_tracer
from lambdas.migrate_databases import roles
from lambdas.store_compliance.migrate import migrate

logger = get_logger("migrate-databases")
tracer = get_tracer("migrate-databases")


@contextmanager
def _connect(secret: Secret, *, autocommit: bool) -> Iterator[psycopg.Connection]:
    try:
        conn = psycopg.connect(
            host=secret["host"], port=int(secret["port"]), user=secret["username"], password=secret["password"],
            dbname=secret["dbname"], connect_timeout=10, autocommit=autocommit, application_name="mtx-migrate",
            **get_settings().db_ssl_options(),
        )  # fmt: skip
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"database {secret.get('dbname')} unavailable: {type(exc).__name__}") from None
    with conn:
        yield conn


def _passwords(secret_ids: dict[str, str]) -> dict[str, str]:
    """role -> password, from each role's own secret (whose username must be that role)."""
    out: dict[str, str] = {}
    for role, secret_id in secret_ids.items():
        secret = get_secret(secret_id, refresh=True)
        if secret.get("username") != role:
            raise roles.RoleSetupError(f"secret {secret_id} is for user {secret.get('username')!r}, not {role}")
        out[role] = str(secret["password"])
    return out


def migrate_compliance(s: Settings) -> list[str]:
    admin = get_secret(s.compliance_admin_secret_id, refresh=True)
    passwords = _passwords(
        {
            roles.COMPLIANCE_MIGRATOR: s.compliance_migrator_secret_id,
            roles.COMPLIANCE_WRITER: s.compliance_writer_secret_id,
            roles.COMPLIANCE_READER: s.compliance_reader_secret_id,
        }
    )
    with _connect(admin, autocommit=True) as conn:
        roles.provision_compliance(conn, str(admin["dbname"]), passwords)
    with _connect(get_secret(s.compliance_migrator_secret_id), autocommit=False) as conn:
        return migrate(conn)


def migrate_warehouse(s: Settings) -> None:
    admin = get_secret(s.warehouse_admin_secret_id, refresh=True)
    passwords = _passwords(
        {
            roles.WAREHOUSE_TRANSFORMER: s.warehouse_transformer_secret_id,
            roles.WAREHOUSE_READER: s.warehouse_reader_secret_id,
        }
    )
    engine = str(admin.get("engine") or "postgres")
    with _connect(admin, autocommit=True) as conn:
        roles.provision_warehouse(conn, str(admin["dbname"]), passwords, engine)
    with _connect(get_secret(s.warehouse_transformer_secret_id), autocommit=True) as conn:
        roles.prepare_warehouse(conn, raw_table_ddl(engine=engine))


def migrate_all(settings: Settings | None = None) -> dict[str, Any]:
    s = settings or get_settings()
    applied = migrate_compliance(s)
    migrate_warehouse(s)
    logger.info("databases migrated", extra={"applied": applied})
    return {"compliance_migrations_applied": applied, "warehouse": "ready"}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    del event  # Terraform passes the migration files' hash only to make a new invocation
    return migrate_all()
