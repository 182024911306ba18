"""BuildMarts' in-process dbt (``invoke_dbt``): what a Lambda container needs of it.

In AWS the function's code folder is read-only and has no ``dbt`` executable:
dbt must run in the process and write only under MTX_HOME. Lambda has no
/dev/shm: a process where creating a multiprocessing semaphore fails as it does
there shows that plain dbt cannot run and BuildMarts' dbt can. The process lives
on (a warm container, the local runtime), so an invocation must leave its
working folder, root logging and environment (the warehouse password) as it
found them. The models go to schemas of this test's own (MTX_DBT_SCHEMA).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from contracts import lineage
from lambdas.build_marts.handler import DBT_DIR, DbtBuildFailed, build_marts, invoke_dbt, work_dir
from orchestration.runtime.stack import LocalStack
from orchestration.settings import reset_settings_cache
from tests.helpers import run_without_semaphores

pytestmark = pytest.mark.integration
SCHEMA = "mtx_runner_test"
SCHEMAS = [SCHEMA, f"{SCHEMA}_staging", f"{SCHEMA}_intermediate", f"{SCHEMA}_reference"]


@pytest.fixture
def own_schema(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MTX_DBT_SCHEMA", SCHEMA)
    # the profile's password comes from the secret during an invocation only
    monkeypatch.delenv("MTX_WAREHOUSE_PASSWORD", raising=False)
    yield stack.dsn("warehouse")
    with psycopg.connect(stack.dsn("warehouse"), autocommit=True) as conn:
        for schema in SCHEMAS:
            conn.execute(f"drop schema if exists {schema} cascade")


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_runs_in_process_and_writes_only_under_home(own_schema: str, tmp_path: Path) -> None:
    project = tmp_path / "dbt"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    before = _files(project)
    cwd, root = os.getcwd(), logging.getLogger()
    handlers, level = list(root.handlers), root.level

    results_file = work_dir() / "target" / "run_results.json"
    results_file.unlink(missing_ok=True)  # from an earlier `dbt` command in this home, if any

    done = invoke_dbt("run", "--select", "stg_mtx__transactions", target="local", project_dir=project)

    assert done.success, done.error
    models = [(n.unique_id, n.status) for n in done.nodes if n.unique_id.startswith("model.")]
    assert models == [("model.mtx.stg_mtx__transactions", "success")]
    assert _files(project) == before, "dbt wrote into the project folder (read-only in a Lambda)"
    assert (work_dir() / "target" / "partial_parse.msgpack").exists()
    # the results come back in process; dbt writes run_results.json only for the lineage processor
    # (OPENLINEAGE_* configured, as a local stack started earlier in this process does)
    assert results_file.exists() == lineage.enabled(), "run_results.json written iff lineage is on"
    assert (work_dir() / "logs" / "dbt.log").exists()
    # the process is left as it was found
    assert os.getcwd() == cwd
    assert (root.handlers, root.level) == (handlers, level)
    assert "MTX_WAREHOUSE_PASSWORD" not in os.environ
    with psycopg.connect(own_schema) as conn:
        count = conn.execute(f"select count(*) from {SCHEMA}_staging.stg_mtx__transactions").fetchone()
    assert count is not None


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_the_log_file_has_sql_statements_at_debug_only(
    own_schema: str, level: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MTX_LOG_LEVEL", level)
    reset_settings_cache()
    log = work_dir() / "logs" / "dbt.log"
    start = log.stat().st_size if log.exists() else 0
    try:
        done = invoke_dbt("run", "--select", "stg_mtx__transactions", target="local")
    finally:
        monkeypatch.undo()
        reset_settings_cache()
    assert done.success, done.error
    with log.open(encoding="utf-8") as fh:
        fh.seek(start)
        written = fh.read()
    assert "OK created sql view model" in written
    assert ("SQL status:" in written) == (level == "DEBUG"), written[-2000:]


def test_a_failing_model_is_named_with_its_reason(own_schema: str) -> None:
    done = invoke_dbt(
        "run", "--select", "stg_mtx__transactions", "--vars", json.dumps({"mtx_raw_schema": "no_such_schema"})
    )
    assert not done.success
    [failed] = done.failures()
    assert failed.unique_id == "model.mtx.stg_mtx__transactions"
    assert "no_such_schema" in failed.message
    assert "MTX_WAREHOUSE_PASSWORD" not in os.environ


def test_build_marts_raises_naming_the_failed_node(own_schema: str) -> None:
    # the data test reads an intermediate table this schema does not have yet
    with pytest.raises(DbtBuildFailed) as caught:
        build_marts(select="assert_exchange_rate_gaps_fit_the_day_spine")
    message = str(caught.value)
    assert "test.mtx.assert_exchange_rate_gaps_fit_the_day_spine" in message
    assert "does not exist" in message


def test_without_dbt_installed_the_error_points_to_the_analytics_image(
    own_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the zip deployment of build_marts: the layer has no dbt (None in sys.modules makes the import fail)
    import lambdas.build_marts.handler as handler

    monkeypatch.setattr(handler, "_runner", None)
    monkeypatch.setitem(sys.modules, "dbt.cli.main", None)
    with pytest.raises(DbtBuildFailed, match=r"dbt\.cli\.main is not installed .* analytics_image_uri"):
        build_marts()
    assert "MTX_WAREHOUSE_PASSWORD" not in os.environ


def test_without_great_expectations_the_checks_point_to_the_analytics_image(monkeypatch: pytest.MonkeyPatch) -> None:
    from lambdas.run_data_checks.handler import DataChecksFailed, run_data_checks

    monkeypatch.setitem(sys.modules, "expectations.checkpoint", None)
    with pytest.raises(DataChecksFailed, match=r"is not installed .* analytics_image_uri"):
        run_data_checks()


def _in_a_lambda_like_process(code: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "MTX_WAREHOUSE_PASSWORD"}
    return run_without_semaphores(code, {**env, "MTX_DBT_SCHEMA": SCHEMA})


def test_plain_dbt_cannot_run_without_semaphores(own_schema: str, tmp_path: Path) -> None:
    # the control: without BuildMarts' threads-only dbt, the same command fails as in Lambda
    code = f"""
from dbt.cli.main import dbtRunner
try:
    res = dbtRunner().invoke(["run", "--select", "stg_mtx__transactions", "--project-dir", {str(DBT_DIR)!r},
                              "--profiles-dir", {str(DBT_DIR)!r}, "--target-path", {str(tmp_path / "t")!r},
                              "--log-path", {str(tmp_path / "l")!r}, "--quiet"])
    out = {{"success": res.success, "error": repr(res.exception)}}
except BaseException as exc:
    out = {{"success": False, "error": repr(exc)}}
print(json.dumps(out))
"""
    out = _in_a_lambda_like_process(code)
    assert out["success"] is False
    assert "Function not implemented" in str(out["error"])


def test_build_marts_dbt_runs_without_semaphores(own_schema: str) -> None:
    code = """
root = logging.getLogger()
before = (list(root.handlers), root.level)
from lambdas.build_marts.handler import invoke_dbt
done = invoke_dbt("run", "--select", "stg_mtx__transactions", target="local")
print(json.dumps({
    "success": done.success, "error": done.error,
    "models": [[n.unique_id, n.status] for n in done.nodes if n.unique_id.startswith("model.")],
    "root_logging_restored": (list(root.handlers), root.level) == before,
    "password_left": "MTX_WAREHOUSE_PASSWORD" in os.environ,
}))
"""
    out = _in_a_lambda_like_process(code)
    assert out["success"] is True, out["error"]
    assert out["models"] == [["model.mtx.stg_mtx__transactions", "success"]]
    assert out["root_logging_restored"] is True  # importing dbt here, in a fresh process, adds a handler
    assert out["password_left"] is False
