"""BuildMarts: ``dbt build`` of the project in ``dbt/`` (models, tests, seeds, unit tests).

The target is ``local`` (the local PostgreSQL warehouse) unless MTX_DBT_TARGET
says otherwise; the connection comes from the warehouse secret, passed to dbt
through the environment variables its profile reads (never on a command line).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from lambdas.common.errors import PipelineError
from lambdas.common.logging import get_logger
from lambdas.common.secrets import get_secret
from orchestration.settings import REPO_ROOT, get_settings

logger = get_logger("build-marts")
DBT_DIR = REPO_ROOT / "dbt"


class DbtBuildFailed(PipelineError):
    pass


def dbt_env(target: str = "local") -> dict[str, str]:
    s = get_settings()
    secret = get_secret(s.warehouse_secret_id)
    env = dict(os.environ)
    prefix = "MTX_WAREHOUSE" if target == "local" else "MTX_REDSHIFT"
    env.update({
        f"{prefix}_HOST": str(secret["host"]), f"{prefix}_PORT": str(secret["port"]),
        f"{prefix}_USER": str(secret["username"]), f"{prefix}_PASSWORD": str(secret["password"]),
        f"{prefix}_DBNAME": str(secret["dbname"]), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    })  # fmt: skip
    return env


def dbt(*args: str, target: str | None = None, project_dir: Path = DBT_DIR) -> subprocess.CompletedProcess[str]:
    target = target or get_settings().dbt_target
    exe = Path(sys.executable).with_name("dbt")
    cmd = [str(exe), *args, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir), "--target", target]
    return subprocess.run(cmd, capture_output=True, text=True, env=dbt_env(target), cwd=project_dir, check=False)


def build_marts(select: str | None = None) -> dict[str, Any]:
    args = ["build"] + (["--select", select] if select else [])
    done = dbt(*args)
    tail = "\n".join(done.stdout.strip().splitlines()[-15:])
    if done.returncode != 0:
        raise DbtBuildFailed(f"dbt build failed (exit {done.returncode}):\n{tail}")
    return {"status": "succeeded", "summary": tail.splitlines()[-1] if tail else ""}


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return build_marts(event.get("select"))
