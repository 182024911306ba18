"""``mtx lineage [--run ID] [--json]``: raw -> curated -> warehouse -> marts of one analytics refresh, from the
OpenLineage events the local stack wrote (``<home>/lineage/events.ndjson``, orchestration/runtime/lineage_file.py).

A refresh is the parent run of the crawl, the flatten job and the dbt run (and dbt's models are the dbt run's
children); upstream of it, the batch ingest runs that wrote the analytics prefix the crawl read. ``--run`` takes
the refresh's execution ARN, its OpenLineage run id, or a batch run id (that batch alone); by default the latest
refresh. Datasets are placed in stages by what they are: the raw bucket's files (raw); the analytics copy, the Glue
table and the curated Parquet (curated); the warehouse's raw, staging and intermediate relations (warehouse);
``fct_``/``dim_`` tables (marts); the compliance store (compliance, beside the chain).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts import lineage
from orchestration.cli import output
from orchestration.cli.exit_codes import CommandError, ExitCode
from orchestration.runtime.lineage_file import events_file

STAGES = ("raw", "curated", "warehouse", "marts", "compliance")
TERMINAL = ("COMPLETE", "FAIL", "ABORT")


@dataclass
class RunInfo:
    run_id: str
    job: str
    state: str = ""
    parent: str | None = None
    parent_job: str | None = None
    first_at: str = ""
    last_at: str = ""
    inputs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    outputs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "job": self.job, "state": self.state, "parent_run_id": self.parent,
            "started_at": self.first_at, "finished_at": self.last_at,
            "inputs": [f"{ns}/{name}" for ns, name in self.inputs],
            "outputs": [{"dataset": f"{ns}/{name}", "rows": rows_of(facets)}
                        for (ns, name), facets in self.outputs.items()],
        }  # fmt: skip


def rows_of(output: dict[str, Any]) -> int | None:
    stats = (output.get("outputFacets") or {}).get("outputStatistics") or {}
    return stats.get("rowCount")


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """The run events of a lineage file, in order (a line that is not JSON is skipped)."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "run" in event and "job" in event:
                yield event


def runs_of(events: Iterable[dict[str, Any]]) -> dict[str, RunInfo]:
    """One RunInfo per run id: its last state, parent, and every dataset its events named (facets merged)."""
    runs: dict[str, RunInfo] = {}
    for e in events:
        rid = str(e["run"]["runId"])
        info = runs.setdefault(rid, RunInfo(rid, str(e["job"]["name"])))
        state = str(e.get("eventType") or "")
        if state in TERMINAL or not info.state:
            info.state = state
        when = str(e.get("eventTime") or "")
        info.first_at = min(info.first_at or when, when)
        info.last_at = max(info.last_at, when)
        parent = (e["run"].get("facets") or {}).get("parent")
        if parent:
            info.parent, info.parent_job = str(parent["run"]["runId"]), str(parent["job"]["name"])
        for kind, target in (("inputs", info.inputs), ("outputs", info.outputs)):
            for d in e.get(kind) or []:
                key = (str(d["namespace"]), str(d["name"]))
                merged = target.setdefault(key, {})
                for facet_kind in ("facets", "inputFacets", "outputFacets"):
                    merged.setdefault(facet_kind, {}).update(d.get(facet_kind) or {})
    return runs


def stage_of(namespace: str, name: str, producer: str | None, raw_inputs: set[tuple[str, str]]) -> str:
    if (namespace, name) in raw_inputs:
        return "raw"
    if namespace.endswith("-compliance"):
        return "compliance"
    if namespace.startswith(("s3://", "arn:aws:glue:")):
        return "curated"
    table = name.rsplit(".", 1)[-1]
    return "marts" if table.startswith(("fct_", "dim_")) else "warehouse"


def descendants(runs: dict[str, RunInfo], root: str) -> list[RunInfo]:
    children: dict[str, list[RunInfo]] = {}
    for r in runs.values():
        if r.parent:
            children.setdefault(r.parent, []).append(r)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.run_id)
    return found


def refresh_runs(runs: dict[str, RunInfo]) -> dict[str, str]:
    """Refresh run id -> the time of its children's last event."""
    out: dict[str, str] = {}
    for r in runs.values():
        if r.parent and r.parent_job == lineage.REFRESH_JOB:
            out[r.parent] = max(out.get(r.parent, ""), r.last_at)
    return out


def pick(runs: dict[str, RunInfo], wanted: str | None) -> tuple[str, str] | None:
    """(run id, kind: refresh | batch) of ``wanted`` (ARN, run id, batch run id), or the latest refresh."""
    refreshes = refresh_runs(runs)
    if not wanted:
        if refreshes:
            return max(refreshes, key=lambda k: refreshes[k]), "refresh"
        batches = [r for r in runs.values() if r.job == lineage.BATCH_INGEST_JOB]
        return (max(batches, key=lambda r: r.last_at).run_id, "batch") if batches else None
    as_refresh, as_batch = lineage.run_id(lineage.REFRESH_JOB, wanted), lineage.run_id(lineage.BATCH_INGEST_JOB, wanted)
    for candidate in (wanted, as_refresh, as_batch):
        if candidate in refreshes:
            return candidate, "refresh"
        if candidate in runs:
            run = runs[candidate]
            while run.parent and run.parent in runs:  # a child run: its refresh
                run = runs[run.parent]
            if run.parent in refreshes:
                return str(run.parent), "refresh"
            return run.run_id, "refresh" if run.run_id in refreshes else "batch"
    return None


def graph(events: Iterable[dict[str, Any]], wanted: str | None = None) -> dict[str, Any] | None:
    """The lineage of one run (see the module docstring) as plain data; None if there is no such run."""
    runs = runs_of(events)
    chosen = pick(runs, wanted)
    if chosen is None:
        return None
    root, kind = chosen
    members = descendants(runs, root) if kind == "refresh" else [runs[root]]
    if kind == "refresh":
        started = min((r.first_at for r in members), default="")
        read = {k for r in members for k in r.inputs}
        members = [r for r in runs.values() if r.job == lineage.BATCH_INGEST_JOB and r.last_at <= started
                   and set(r.outputs) & read] + members  # fmt: skip
    raw_inputs = {k for r in members if r.job == lineage.BATCH_INGEST_JOB for k in r.inputs}
    datasets: dict[tuple[str, str], dict[str, Any]] = {}
    edges: set[tuple[str, str, str]] = set()
    members = sorted(members, key=lambda r: r.first_at)  # datasets in the order the pipeline met them
    for r in members:
        for key in r.inputs:
            datasets.setdefault(key, {"producers": []})
        for key, facets in r.outputs.items():
            entry = datasets.setdefault(key, {"producers": []})
            entry["producers"].append({"job": r.job, "run_id": r.run_id, "state": r.state, "rows": rows_of(facets)})
            for src in r.inputs:
                edges.add((f"{src[0]}/{src[1]}", f"{key[0]}/{key[1]}", r.job))
    stages: dict[str, list[dict[str, Any]]] = {s: [] for s in STAGES}
    for (ns, name), entry in datasets.items():
        producer = entry["producers"][-1]["job"] if entry["producers"] else None
        stages[stage_of(ns, name, producer, raw_inputs)].append({"namespace": ns, "name": name, **entry})
    return {
        "run_id": root, "kind": kind,
        "runs": [r.summary() for r in members],
        "stages": stages,
        "edges": [{"from": a, "to": b, "job": j} for a, b, j in sorted(edges)],
    }  # fmt: skip


def _render(data: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text
    from rich.tree import Tree

    tree = Tree(Text(f"{data['kind']} run {data['run_id']} ({len(data['runs'])} runs)", style="bold"))
    chain = [s for s in STAGES if data["stages"][s]]
    for stage in chain:
        branch = tree.add(Text(stage, style="bold cyan"))
        for d in data["stages"][stage]:
            line = Text(f"{d['namespace']} ")
            line.append(d["name"], style="bold")
            for p in d["producers"][-1:]:
                rows = f", {p['rows']:,} rows" if p["rows"] is not None else ""
                line.append(f"  <- {p['job']} {p['state']}{rows}", style="dim")
            branch.add(line)
    table = Table(title="runs")
    for col in ("job", "state", "run id", "in", "out"):
        table.add_column(col)
    for r in data["runs"]:
        table.add_row(r["job"], r["state"], r["run_id"], str(len(r["inputs"])), str(len(r["outputs"])))
    output.show(tree, Text(" -> ".join(s for s in chain if s != "compliance")), table)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", default=None, help="refresh execution ARN, OpenLineage run id or batch run id "
                   "(default: the latest refresh)")  # fmt: skip
    p.add_argument("--file", type=Path, default=None, help="lineage events (default <home>/lineage/events.ndjson)")
    output.add_json_flag(p)


def run(args: argparse.Namespace) -> int:
    path = args.file or events_file(args.home)
    data = graph(read_events(path), args.run)
    if data is None:
        what = f"run {args.run}" if args.run else "run"
        raise CommandError(f"no lineage for a {what} in {path} (a batch ingest or `mtx refresh` on a running "
                           "stack writes it)")  # fmt: skip
    if output.wants_json(args):
        output.emit_json(data)
    else:
        _render(data)
    return int(ExitCode.OK)
