"""MTX_DB_SSLMODE / MTX_DB_SSLROOTCERT reach libpq (issue 18, item 6): Terraform sets verify-full and the
shipped CA bundle in AWS; here the real local PostgreSQL, which serves no TLS, proves the options are
applied by lambdas/common/db.py: a mode that demands TLS is refused, the default connects.

The local server stays without TLS on purpose (see infra/README.md, "Database connections").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from lambdas.common import db
from lambdas.common.errors import DatabaseUnavailable
from orchestration.runtime.stack import LocalStack
from orchestration.settings import REPO_ROOT, reset_settings_cache

pytestmark = pytest.mark.integration

BUNDLE = "lambdas/common/certs/aws-rds-ca-bundle.pem"
NAMES = ("MTX_DB_SSLMODE", "MTX_DB_SSLROOTCERT")


@pytest.fixture
def tls(stack: LocalStack) -> Iterator[Callable[..., None]]:
    """Set the TLS settings of this process (the test's own connections; the stack's workers keep theirs)."""
    saved = {name: os.environ.get(name) for name in NAMES}

    def apply(sslmode: str = "", sslrootcert: str = "") -> None:
        os.environ["MTX_DB_SSLMODE"], os.environ["MTX_DB_SSLROOTCERT"] = sslmode, sslrootcert
        reset_settings_cache()
        db.close_all()  # a pooled connection would skip the connect under test

    yield apply
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    reset_settings_cache()
    db.close_all()


@pytest.mark.parametrize(
    ("sslmode", "sslrootcert"),
    [("require", ""), ("verify-full", BUNDLE), ("verify-ca", str(REPO_ROOT / BUNDLE))],
)
def test_a_mode_that_demands_tls_is_refused_by_a_server_without_it(
    stack: LocalStack, tls: Callable[..., None], sslmode: str, sslrootcert: str
) -> None:
    secret_id = stack.require_settings().compliance_writer_secret_id
    tls(sslmode, sslrootcert)
    with pytest.raises(DatabaseUnavailable) as err, db.connection(secret_id):
        pass
    # the error names the secret and the driver's error class, never the host, the user or the password
    assert str(err.value) == f"database of secret {secret_id} unavailable: OperationalError"


def test_without_the_setting_the_same_secret_connects(stack: LocalStack, tls: Callable[..., None]) -> None:
    tls("", "")
    with db.connection(stack.require_settings().compliance_writer_secret_id) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        assert conn.info.pgconn.ssl_in_use is False
    tls("prefer", "")  # TLS when offered: the local server offers none
    with db.connection(stack.require_settings().compliance_writer_secret_id) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
