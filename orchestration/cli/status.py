"""``mtx status``: is the local stack running, and where; and what it has done in this run.

The counts come from the business metrics (the EMF lines the handlers printed, kept in
``<home>/metrics/emf.ndjson`` as CloudWatch keeps them), from the line where this run of the stack began
(``emf.mark_run``). While the stack runs they are compared with the stores, where that is cheap: stored
against the compliance rows stored since the run began, dead-lettered against the dead-letter queue
(plus the letters archived). The dead-letter queue's depth and oldest letter and the last analytics
refresh's execution come from the running stack; the dbt build, the data checks and the marts' freshness
from the metrics.

When no stack runs in ``--home``, the figures of the last run are shown from the metrics file of the stack
that wrote one last: ``--home``'s own (``mtx up``) or ``<home>/demo`` (``make run``).

Exit status (docs/observability.md): 0 running and healthy; 1 running, and something to look at (the last
refresh failed, dbt tests or data checks failed, the marts are staler than the alarm's threshold);
3 no stack running in ``--home`` (the last run's figures are still printed when there are any).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from orchestration.cli import metrics_view, output
from orchestration.cli.exit_codes import ExitCode
from orchestration.runtime import emf

EXIT_HEALTHY, EXIT_ATTENTION, EXIT_NOT_RUNNING = ExitCode.OK, ExitCode.FAILED, ExitCode.STACK_NOT_RUNNING
#: the failed_state of a letter the API entrance wrote (orchestration/runtime/ingest.py)
API_ENTRANCE_STATE = "ApiEntrance"


def metrics_home(home: Path, running: bool) -> Path:
    """Whose metrics to show: the running stack's; else the stack that wrote metrics last, of ``home`` (`mtx up`)
    and ``home/demo`` (`make run`)."""
    written = [h for h in (home, home / "demo") if emf.stack_file(h).exists()]
    if running or not written:
        return home
    return max(written, key=lambda h: emf.stack_file(h).stat().st_mtime)


def stack_state(home: Path) -> dict[str, Any] | None:
    from orchestration.runtime.stack import pid_alive, read_state

    state = read_state(home)
    return state if state is not None and pid_alive(int(state["pid"])) else None


def gather(home: Path, now: float | None = None) -> dict[str, Any]:
    """Everything ``mtx status`` shows, as one JSON-ready document."""
    now = time.time() if now is None else now
    home = Path(home).resolve()
    state = stack_state(home)
    source = metrics_home(home, state is not None)
    offset, started_at = emf.run_start(source)
    view = metrics_view.summarise(emf.points(emf.stack_file(source), offset))
    doc: dict[str, Any] = {
        "stack": {"running": state is not None, "home": str(home)},
        "metrics": {"file": str(emf.stack_file(source)), "run_started_at": metrics_view.iso(started_at)},
        **metrics_view.document(view, now),
        "dead_letter_queue": None,
        "cross_check": [],
    }
    doc["refresh"]["execution"] = None
    if state is not None:
        doc["stack"].update({k: state.get(k) for k in ("pid", "startup_seconds", "aws_endpoint_url", "api_url",
                                                       "postgres_port")})  # fmt: skip
        _from_running_stack(home, doc, view, started_at, now)
    doc["problems"] = problems(doc)
    code = EXIT_NOT_RUNNING if state is None else EXIT_ATTENTION if doc["problems"] else EXIT_HEALTHY
    doc["exit_code"] = int(code)
    return doc


def _from_running_stack(
    home: Path, doc: dict[str, Any], view: metrics_view.View, started_at: float | None, now: float
) -> None:
    import psycopg

    from orchestration.cli import dlq
    from orchestration.cli.connect import RunningStack

    stack = RunningStack(home)
    letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    oldest = max((d.age_seconds(now) for d in letters), default=None)
    # bodies the API entrance refused before any workflow ran (400): in AWS API Gateway's request validator
    # answers them (its 4XXError metric), the local API also dead-letters them; no function publishes them
    refused = [d for d in letters if d.failed_state == API_ENTRANCE_STATE]
    doc["dead_letter_queue"] = {
        "depth": len(letters),
        "oldest_age_seconds": None if oldest is None else round(oldest, 1),
        "by_reason": dict(sorted(dlq.summarise(letters).items())),
        "refused_at_the_api": len(refused),
        "refused_by_reason": dict(sorted(dlq.summarise(refused).items())),
    }
    with psycopg.connect(stack.state["compliance_dsn"], connect_timeout=10) as conn:
        row = conn.execute(
            "select count(*) from compliance.transactions where stored_at >= to_timestamp(%s)", (started_at or 0,)
        ).fetchone()
    rows = int(row[0]) if row else 0
    stored = int(sum(f.stored for f in view.flow.values()))
    dead = int(sum(f.dead_lettered for f in view.flow.values()))
    kept = len(letters) + int(view.archived)
    doc["cross_check"] = [
        {"what": "stored", "metrics": stored, "store": rows,
         "store_is": "compliance rows stored since the run began", "agrees": stored == rows},
        {"what": "dead-lettered", "metrics": dead + len(refused), "store": kept,
         "store_is": "letters in the queue + archived (metrics: dead-lettered + refused at the API)",
         "agrees": dead + len(refused) == kept},
    ]  # fmt: skip
    sfn = stack.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=stack.state_machine_arn("analytics_refresh"))["executions"]
    if executions:
        last = max(executions, key=lambda e: e["startDate"])
        doc["refresh"]["execution"] = {
            "name": last["name"], "status": last["status"], "started": last["startDate"].isoformat(timespec="seconds"),
            "stopped": last["stopDate"].isoformat(timespec="seconds") if last.get("stopDate") else None,
        }  # fmt: skip


def problems(doc: dict[str, Any]) -> list[str]:
    """What makes a running stack's status non-zero (the alarms' conditions, seen locally)."""
    found = []
    refresh = doc["refresh"]
    execution = refresh.get("execution")
    if execution and execution["status"] not in ("SUCCEEDED", "RUNNING"):
        found.append(f"the last analytics refresh {execution['name']} ended {execution['status']}")
    if refresh["dbt"] and refresh["dbt"]["tests_failed"]:
        found.append(f"{refresh['dbt']['tests_failed']} dbt tests failed in the last build")
    if refresh["data_checks"] and refresh["data_checks"]["failed"]:
        found.append(f"{refresh['data_checks']['failed']} data checks failed in the last refresh")
    if refresh["freshness"] and refresh["freshness"]["stale"]:
        found.append(f"the marts are {refresh['freshness']['minutes_now']} minutes behind (stale)")
    return found


# ---------------------------------------------------------------------------------------------- rendering
def _table(title: str, columns: list[str], rows: list[list[Any]], numeric: int = 1) -> Table:
    """Rows under a header; the columns from index ``numeric`` on right-aligned."""
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_header=any(columns))
    for i, column in enumerate(columns):
        t.add_column(column, justify="right" if i >= numeric else "left")
    for row in rows:
        t.add_row(*("-" if v is None else f"{v:,}" if isinstance(v, int | float) else str(v) for v in row))
    return t


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def tables(doc: dict[str, Any]) -> list[Table]:
    """The document as rich tables (``mtx status`` prints them; ``mtx report`` puts them in its page)."""
    out = []
    stack = doc["stack"]
    rows: list[list[Any]] = [["running" if stack["running"] else "not running", stack["home"]]]
    if stack["running"]:
        rows += [[k, str(stack[k])] for k in ("pid", "startup_seconds", "aws_endpoint_url", "api_url",
                                              "postgres_port")]  # fmt: skip
    rows += [["metrics", doc["metrics"]["file"]], ["run began", doc["metrics"]["run_started_at"]]]
    out.append(_table("Local stack", ["", ""], rows, numeric=2))
    flow_columns = ["received", "stored", "duplicates", "rejected", "dead_lettered", "quarantined"]
    out.append(_table("Transactions per entrance (business metrics)", ["entrance", *flow_columns],
                      [[f["entrance"], *(f[c] for c in flow_columns)] for f in doc["flow"]]))  # fmt: skip
    letters = doc["dead_letters_by_reason"]
    out.append(
        _table(
            "Dead-lettered by reason",
            ["entrance", "reason", "count"],
            [[d["entrance"], d["reason"], d["count"]] for d in letters] or [["-", "none", 0]],
            numeric=2,
        )
    )
    queue = doc["dead_letter_queue"]
    if queue is not None:
        reasons = ", ".join(f"{k} {v}" for k, v in queue["by_reason"].items()) or "-"
        out.append(_table("Dead-letter queue", ["depth", "oldest letter", "refused at the API", "by reason"],
                          [[queue["depth"], age(queue["oldest_age_seconds"]), queue["refused_at_the_api"], reasons]],
                          numeric=0))  # fmt: skip
    if doc["cross_check"]:
        out.append(_table("Metrics against the stores", ["", "metrics", "stores", "stores are", "agree"],
                          [[c["what"], c["metrics"], c["store"], c["store_is"], "yes" if c["agrees"] else "NO"]
                           for c in doc["cross_check"]]))  # fmt: skip
    out.append(_table("Last analytics refresh", ["", ""], refresh_rows(doc["refresh"]), numeric=2))
    if doc["stages"]:
        out.append(
            _table(
                "Stage latency (ms)",
                ["stage", "count", "p50", "p95", "max"],
                [[s["stage"], s["count"], s["p50_ms"], s["p95_ms"], s["max_ms"]] for s in doc["stages"]],
            )
        )
    return out


def refresh_rows(refresh: dict[str, Any]) -> list[list[Any]]:
    execution, dbt, checks, fresh = refresh["execution"], refresh["dbt"], refresh["data_checks"], refresh["freshness"]
    rows: list[list[Any]] = []
    if execution:
        rows.append(["execution", f"{execution['status']}  {execution['started']} -> {execution['stopped'] or '…'}"])
    rows.append(["dbt build", "none seen" if dbt is None else
                 f"{dbt['at']}: models {json.dumps(dbt['models'])}, tests failed {dbt['tests_failed']}"])  # fmt: skip
    rows.append(["data checks", "none seen" if checks is None else
                 f"{checks['at']}: passed {checks['passed']}, failed {checks['failed']}"])  # fmt: skip
    rows.append(["marts freshness", "unknown (no data checks reported it)" if fresh is None else
                 f"{fresh['minutes_now']} min behind now ({fresh['minutes_at_check']} at the check, "
                 f"{fresh['checked_at']}){'  STALE' if fresh['stale'] else ''}"])  # fmt: skip
    return rows


def render(doc: dict[str, Any], console: Console) -> None:
    for t in tables(doc):
        console.print(t)
        console.print()
    for problem in doc["problems"]:
        console.print(f"attention: {problem}")
    if not doc["stack"]["running"]:
        console.print("local stack: not running (the figures above are its last run's); `mtx up` starts it")


def cmd_status(args: argparse.Namespace) -> int:
    doc = gather(args.home)
    if output.wants_json(args):
        output.emit_json(doc)
    else:
        render(doc, output.console())
    return int(doc["exit_code"])
