"""BuildMarts: ``dbt build`` of the project in ``dbt/`` (models, tests, seeds, unit tests).

dbt runs in this process through its programmatic entry point (``dbtRunner``),
not as a ``dbt`` command:

- the Lambda runtime has no ``dbt`` executable on its PATH, and its code folder
  is read-only: dbt's target and log folders go to ``<MTX_HOME>/dbt``
  (``/tmp/mtx/dbt`` in AWS, ``.local/dbt`` locally);
- Lambda has no ``/dev/shm``: dbt gets threading locks and a thread pool
  without multiprocessing semaphores (``dbt_threads.py``), here as in AWS;
- a warm Lambda (or the local runtime) keeps dbt imported and its partial-parse
  file, so a refresh pays dbt's start-up (3-5 s of imports and parsing on the
  2-vCPU machine, more under load) once per container instead of once per run.
  The daily scheduled refresh will mostly find a cold container: it pays it then.

The target is ``local`` (the local PostgreSQL warehouse) unless MTX_DBT_TARGET
says otherwise; the connection comes from the warehouse secret and reaches the
profile through the environment variables it reads, set for the duration of
one invocation (never on a command line). One invocation runs at a time per
process: dbt keeps global state (flags, adapters, logging, the working folder;
the last two are put back afterwards). The lock orders invocations, it does not
hide them: while one runs, other threads of the process see the profile's
variables (the password among them) and dbt's working folder. A Lambda runs one
invocation per process; the local runtime's other threads are its own.

``dbt()`` (a ``dbt`` child process) remains for ``mtx dbt ...``, where a user
wants dbt's own console output.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts import lineage
from contracts.config import PACKAGE_ROOT, get_settings
from lambdas.common import metrics
from lambdas.common.errors import PipelineError, needs_analytics_image, stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.secrets import get_secret
from lambdas.common.tracing import correlated, get_tracer
from lambdas.migrate_databases.roles import ANALYSTS_ROLE

logger = get_logger("build-marts")
tracer = get_tracer("build-marts")
DBT_DIR = PACKAGE_ROOT / "dbt"
#: statuses of a node that make an invocation fail
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})


class DbtBuildFailed(PipelineError):
    pass


def dbt_env(target: str = "local") -> dict[str, str]:
    """The variables dbt's profile reads for `target`, from the warehouse secret."""
    s = get_settings()
    secret = get_secret(s.warehouse_transformer_secret_id)
    prefix = "MTX_WAREHOUSE" if target == "local" else "MTX_REDSHIFT"
    return {
        f"{prefix}_HOST": str(secret["host"]), f"{prefix}_PORT": str(secret["port"]),
        f"{prefix}_USER": str(secret["username"]), f"{prefix}_PASSWORD": str(secret["password"]),
        f"{prefix}_DBNAME": str(secret["dbname"]), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # who dbt's grants config gives SELECT on the marts: the analysts role, of which the analytics
        # API's reader is a member (lambdas/migrate_databases/roles.py); on Redshift a bare name is a user
        "MTX_ANALYSTS_ROLE": f"role:{ANALYSTS_ROLE}" if target == "redshift" else ANALYSTS_ROLE,
    }  # fmt: skip


def dbt(*args: str, target: str | None = None, project_dir: Path = DBT_DIR) -> subprocess.CompletedProcess[str]:
    """`dbt <args>` as a child process (for `mtx dbt`): its own console output, target/ in the project."""
    target = target or get_settings().dbt_target
    exe = Path(sys.executable).with_name("dbt")
    cmd = [str(exe), *args, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir), "--target", target]
    env = {**os.environ, **dbt_env(target)}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=project_dir, check=False)


# ----------------------------------------------------------------------------- in-process dbt
@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    status: str
    seconds: float
    message: str


@dataclass(frozen=True)
class DbtInvocation:
    """What one in-process dbt command did."""

    args: tuple[str, ...]
    success: bool
    seconds: float
    nodes: list[NodeResult] = field(default_factory=list)
    error: str | None = None

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(n.status for n in self.nodes).items()))

    def failures(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in FAILED_STATUSES]

    def summary(self) -> str:
        counts = ", ".join(f"{v} {k}" for k, v in self.counts().items()) or "no nodes"
        return f"dbt {' '.join(self.args)}: {counts} in {self.seconds:.1f} s"

    def failure_reason(self) -> str:
        """Why it failed: dbt's own error, else every failed node with its message."""
        failed = "; ".join(f"{n.unique_id} ({n.status}): {n.message}"[:300] for n in self.failures())
        return self.error or failed or "no node failed; see dbt's log"


_lock = threading.Lock()
_runner: Any = None


def work_dir() -> Path:
    """Where dbt writes target/ and logs/: <MTX_HOME>/dbt (Terraform sets MTX_HOME=/tmp/mtx)."""
    return get_settings().home / "dbt"


def invoke_dbt(*args: str, target: str | None = None, project_dir: Path = DBT_DIR) -> DbtInvocation:
    """Run `dbt <args>` in this process (warm: dbt stays imported, its partial parse kept).

    The results come back in process, so dbt does not write manifest.json and
    run_results.json: serialising the manifest twice per command costs ~0.5 s of CPU here,
    and nothing reads them in a Lambda. The partial-parse file is written, and dbt's log
    file at the service's log level (MTX_LOG_LEVEL): every SQL statement only at DEBUG,
    otherwise each node's start, result and errors (writing every statement is ~15% of
    dbt's own CPU time, and a Lambda's /tmp is gone with the container).
    """
    global _runner
    settings = get_settings()
    target = target or settings.dbt_target
    work = work_dir()
    env = dbt_env(target)
    cli = [
        *args, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir), "--target", target,
        "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
        "--log-level-file", "debug" if settings.log_level.upper() == "DEBUG" else "info",
        "--quiet", "--no-send-anonymous-usage-stats", "--no-version-check",
        # manifest.json and run_results.json only for the lineage (lineage.py reads them)
        "--write-json" if lineage.enabled() else "--no-write-json",
    ]  # fmt: skip
    with _lock:
        saved = {k: os.environ.get(k) for k in env}
        cwd = os.getcwd()  # dbt changes into the project folder and stays there
        root = logging.getLogger()
        root_handlers, root_level = list(root.handlers), root.level  # importing dbt adds a stderr handler
        os.environ.update(env)
        t0 = time.perf_counter()
        try:
            if _runner is None:
                try:
                    from lambdas.build_marts.dbt_threads import use_threads_only

                    use_threads_only()  # Lambda has no /dev/shm for multiprocessing's semaphores
                    from dbt.cli.main import dbtRunner
                except ModuleNotFoundError as exc:  # the zip deployment: no dbt in the layer
                    raise DbtBuildFailed(needs_analytics_image("build_marts", exc)) from exc
                _runner = dbtRunner()
            res = _runner.invoke(cli)
        finally:
            seconds = time.perf_counter() - t0
            for k, v in saved.items():  # the password first, whatever fails after
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            root.handlers[:] = root_handlers
            root.setLevel(root_level)
            os.chdir(cwd)
    nodes = [
        NodeResult(
            r.node.unique_id,
            str(getattr(r.status, "value", r.status)),
            float(r.execution_time or 0.0),
            str(r.message or ""),
        )
        for r in (getattr(res.result, "results", None) or [])
    ]
    error = f"{type(res.exception).__name__}: {res.exception}" if res.exception is not None else None
    return DbtInvocation(args=tuple(args), success=bool(res.success), seconds=seconds, nodes=nodes, error=error)


def build_marts(select: str | None = None, parent_run_id: str | None = None) -> dict[str, Any]:
    """``dbt build``; ``parent_run_id``: the analytics refresh's execution (the lineage events' parent run)."""
    started = dt.datetime.now(dt.UTC)
    done = invoke_dbt("build", *(["--select", select] if select else []))
    _emit(done)
    if lineage.enabled():
        from lambdas.build_marts import lineage as dbt_lineage

        target = get_settings().dbt_target
        with _lock:  # dbt's own state: the profile's variables are set while it is read
            dbt_lineage.emit_build(project_dir=DBT_DIR, target_path=work_dir() / "target", target=target,
                                   profile_env=dbt_env(target), parent_execution=parent_run_id,
                                   success=done.success, started_at=started)  # fmt: skip
    if not done.success:
        raise DbtBuildFailed(
            f"dbt build failed: {done.failure_reason()} [{done.summary()}; log: {work_dir() / 'logs'}]"
        )
    logger.info("dbt build done", extra={"counts": done.counts(), "seconds": round(done.seconds, 2)})
    return {"status": "succeeded", "summary": done.summary(), "counts": done.counts()}


def _emit(done: DbtInvocation) -> None:
    """Models built by outcome, and the failed tests (0 too: the alarm sees that the tests ran)."""
    models = Counter(n.status for n in done.nodes if n.unique_id.startswith("model."))
    for outcome, count in sorted(models.items()):
        metrics.emit("DbtModelsBuilt", count, Outcome=outcome)
    tests = [n for n in done.nodes if n.unique_id.startswith("test.")]
    metrics.emit("DbtTestsFailed", sum(1 for n in tests if n.status in FAILED_STATUSES))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return build_marts(event.get("select"), event.get("parent_run_id"))
