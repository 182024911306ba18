"""The test tiers, enforced at collection: every test carries exactly one tier marker, the one of its folder.

- ``unit`` (tests/unit/): no servers, no JVM; `make test-unit`, about a minute.
- ``integration`` (tests/integration/): against the real local stack, PostgreSQL, Spark, dbt, Terraform.
- ``e2e`` (tests/e2e/): the whole pipeline or the CLI as a user runs it.

A test without a tier marker, with two, with one that is not its folder's, or a
unit test that asks for a server fixture, stops the run before any test runs
(``pytest.UsageError``), so a new test cannot slip out of `make test-unit` or into it.
Loaded by tests/conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

TIERS = ("unit", "integration", "e2e")
TESTS_DIR = Path(__file__).resolve().parent
#: fixtures that start a server or a JVM: a unit test may not use them
SERVER_FIXTURES = frozenset({"stack", "clean_queues", "spark", "warehouse_dsn", "analytics_stack", "api"})


def tier_problems(item: pytest.Item) -> list[str]:
    """What is wrong with this test's tier, or nothing."""
    tiers = sorted({mark.name for mark in item.iter_markers() if mark.name in TIERS})
    if not tiers:
        return [f"{item.nodeid}: no tier marker (one of {', '.join(TIERS)}; e.g. pytestmark = pytest.mark.unit)"]
    if len(tiers) > 1:
        return [f"{item.nodeid}: more than one tier marker ({', '.join(tiers)})"]
    problems = []
    tier = tiers[0]
    path = Path(str(item.path)).resolve()
    folder = path.relative_to(TESTS_DIR).parts[0] if path.is_relative_to(TESTS_DIR) else None
    if folder is not None and folder in TIERS and folder != tier:
        problems.append(f"{item.nodeid}: marked {tier} but lives in tests/{folder}/")
    if tier == "unit":
        servers = sorted(SERVER_FIXTURES & set(getattr(item, "fixturenames", ())))
        if servers:
            problems.append(f"{item.nodeid}: a unit test uses server fixtures ({', '.join(servers)}): not a unit test")
    return problems


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problems = [problem for item in items for problem in tier_problems(item)]
    if problems:
        raise pytest.UsageError("tests outside the tiers:\n  " + "\n  ".join(problems))
