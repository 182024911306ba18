"""dbt in the test process (``dbtRunner``, as BuildMarts runs it), against a warehouse given by a DSN."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = REPO_ROOT / "dbt"


@dataclass
class DbtResult:
    returncode: int
    output: str
    run_results: dict[str, Any]

    def statuses(self) -> dict[str, str]:
        return {r["unique_id"]: r["status"] for r in self.run_results.get("results", [])}


class Dbt:
    """Runs dbt in dbt/ against the test warehouse, in this process (``dbtRunner``), in its own target folders.

    One runner for the module: dbt's imports and adapter plugins load once, and a command
    that reuses a target folder with the same vars and environment parses partially.
    ``output`` is what the command would have printed: its events at info level and
    above, and the debug ones (every SQL statement) when ``--debug`` is given.
    """

    def __init__(self, dsn: str, workdir: Path, schema: str) -> None:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
        self.env = {
            "MTX_WAREHOUSE_HOST": str(params.get("host") or "127.0.0.1"),
            "MTX_WAREHOUSE_PORT": str(params.get("port") or "5432"),
            "MTX_WAREHOUSE_USER": str(params.get("user") or "mtx"),
            "MTX_WAREHOUSE_PASSWORD": str(params.get("password") or ""),
            "MTX_WAREHOUSE_DBNAME": str(params.get("dbname") or "warehouse"),
            "MTX_DBT_SCHEMA": schema,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_VERSION_CHECK": "false",
            "DBT_USE_COLORS": "false",
        }
        self.workdir = workdir
        self._events: list[tuple[str, str]] = []
        from dbt.cli.main import dbtRunner

        self._runner = dbtRunner(callbacks=[lambda e: self._events.append((e.info.level, e.info.msg))])

    def __call__(self, *args: str, target_name: str = "main", env: dict[str, str] | None = None) -> DbtResult:
        target_path = self.workdir / target_name
        command = [
            *args,
            "--project-dir",
            str(DBT_DIR),
            "--profiles-dir",
            str(DBT_DIR),
            "--target-path",
            str(target_path),
            "--log-path",
            str(self.workdir / "logs"),
        ]
        # the profile reads the connection from the environment: this command's, then put back
        wanted = {**self.env, **(env or {})}
        dropped = {k: v for k, v in os.environ.items() if k.startswith(("MTX_", "DBT_")) and k != "MTX_ANALYSTS_ROLE"}
        saved = {k: os.environ.get(k) for k in wanted}
        cwd = os.getcwd()
        self._events.clear()
        for k in dropped:
            del os.environ[k]
        os.environ.update(wanted)
        try:
            res = self._runner.invoke(command)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            os.environ.update(dropped)
            os.chdir(cwd)
        levels = {"debug", "info", "warn", "error"} if "--debug" in args else {"info", "warn", "error"}
        output = "\n".join(msg for level, msg in self._events if level in levels)
        if res.exception is not None:
            output += f"\n{type(res.exception).__name__}: {res.exception}"
        returncode = 0 if res.success else (1 if res.exception is None else 2)  # as the dbt command exits
        results_file = target_path / "run_results.json"
        run_results = json.loads(results_file.read_text()) if results_file.exists() else {}
        if results_file.exists():
            results_file.unlink()  # a later command without results must not read these
        return DbtResult(returncode, output, run_results)
