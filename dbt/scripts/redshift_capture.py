"""Capture, offline, every SQL statement the product would send to Amazon Redshift.

``python dbt/scripts/redshift_capture.py OUT_DIR`` writes one JSON line per statement
(``{"source", "origin", "phase", "sql"}``) into ``OUT_DIR/<source>.jsonl`` for
``redshift_gate.py`` to check, and prints how many it captured per source.

**dbt**: the real dbt-redshift adapter runs the project (``dbt build --target redshift``
on an empty warehouse, then again as an incremental run, then ``dbt source freshness``;
the analysts' example queries in ``analyses/`` compiled by the same adapter),
with ``redshift_connector.connect`` replaced by :class:`FakeRedshift`: a recording
stand-in for the server. Every statement dbt-redshift sends is recorded as sent (after
dbt-redshift's own split into single statements); the stand-in keeps a catalogue of what
those statements created (schemas, tables, views, their columns, worked out by sqlglot
from each statement) and answers dbt-redshift's introspection from it: its list of
relations, columns (the ``pg_get_late_binding_view_cols`` query), schema checks, grants
(none yet), the column types of a model's query (its contract's ``data_type``, else
sqlglot's type inference). Data queries get plausible answers: a data test finds no
failures, an incremental model's watermark (``select max(...)``) is a timestamp, its
changed days (``select distinct ...``) one date, so the incremental run renders its
``is_incremental()`` branch with values, as it would on a warehouse with data. Nothing is
executed: the capture shows what dbt sends, not what Redshift would answer.

**Glue load**: ``glue_jobs.flatten_transactions.load``'s warehouse functions (DDL, bookmarks,
run log, the staging COPY from S3 and the delete+insert merge) called with a recording
connection, on their Redshift path (``copy_from_s3_parquet``).

**Analytics API**: each named operation of ``lambdas.analytics_api.operations`` run with a
recording connection in place of the warehouse's (the compliance store's queries go to
RDS, not Redshift, and are left out), bind parameters written in as literals.

**Migrations**: ``lambdas.migrate_databases`` provisioning the warehouse on its
``engine == "redshift"`` path (roles, schema, the raw table's DDL, grants).

**Data checks**: the warehouse SQL ``expectations/inputs.py`` writes itself (the
reconciliation totals, the check for the tables a suite needs); the expectations' own
queries are Great Expectations' (SQLAlchemy) and are not captured.

Modules (next to this one): ``redshift_standin.py`` (the stand-in server for dbt-redshift),
``redshift_recording.py`` (recording connections for the product's Python code),
``redshift_capture_python.py`` (the Glue load, analytics API, migrations and data checks).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from redshift_capture_python import capture_analytics_api, capture_data_checks, capture_glue, capture_migrations
from redshift_standin import Column, FakeRedshift, Relation

DBT_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = DBT_DIR.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def _contracts(manifest: dict[str, Any]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for node_id, node in manifest["nodes"].items():
        types = {name.lower(): c["data_type"] for name, c in node.get("columns", {}).items() if c.get("data_type")}
        if types:
            out[node_id] = types
    return out


def _raw_relations() -> dict[tuple[str | None, str], Relation]:
    from contracts.warehouse import COLUMNS, RAW_SCHEMA, RAW_TABLE

    return {(RAW_SCHEMA, RAW_TABLE): Relation("table", [Column(c.name, c.sql_type) for c in COLUMNS])}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def capture_dbt(workdir: Path) -> list[dict[str, Any]]:
    """dbt build (empty warehouse, then incremental), dbt source freshness: every statement sent; the analyses."""
    from dbt.cli.main import dbtRunner

    env = {
        # as BuildMarts sets them for the redshift target (lambdas/build_marts/handler.py)
        "MTX_ANALYSTS_ROLE": "role:mtx_analysts",
        "MTX_DBT_SCHEMA": "analytics",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_VERSION_CHECK": "false",
        "DBT_USE_COLORS": "false",
    }
    common = ["--quiet", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR), "--target", "redshift"]
    common += ["--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs")]
    server = FakeRedshift({}, _raw_relations())

    def on_event(event: Any) -> None:
        # project hooks (on-run-end) run without a node: their statements are told by these events
        if event.info.name == "LogHookStartLine":
            server.in_hook = True
        elif event.info.name == "LogHookEndLine":
            server.in_hook = False

    cwd = os.getcwd()
    with _environment(env):
        try:
            parsed = dbtRunner().invoke(["parse", *common])
            if not parsed.success:
                raise RuntimeError(f"dbt parse --target redshift failed: {parsed.exception}")
            manifest = json.loads((workdir / "target" / "manifest.json").read_text())
            server.contracts = _contracts(manifest)
            # the parsed manifest is handed to every later command: parsed once, not per command
            runner = dbtRunner(manifest=parsed.result, callbacks=[on_event])
            with mock.patch("redshift_connector.connect", server.connect):
                for phase, args in (
                    ("build, empty warehouse", ["build"]),
                    ("build, incremental", ["build"]),
                    ("source freshness", ["source", "freshness"]),
                ):
                    server.phase = phase
                    result = runner.invoke([*args, *common])
                    if not result.success:
                        raise RuntimeError(f"dbt {' '.join(args)} against the recording stand-in failed ({phase})")
                # the analysts' example queries (analyses/): compiled, not sent by dbt; analysts run them
                compiled = runner.invoke(["compile", "--select", "resource_type:analysis", *common])
                if not compiled.success:
                    raise RuntimeError("dbt compile of the analyses against the recording stand-in failed")
        finally:
            os.chdir(cwd)
    analyses = sorted((workdir / "target" / "compiled" / "mtx" / "analyses").glob("*.sql"))
    if not analyses:
        raise RuntimeError("dbt compiled no analysis")
    for path in analyses:
        sql = path.read_text(encoding="utf-8")
        server.records.append(
            {"source": "dbt analyses", "origin": f"analysis.mtx.{path.stem}", "phase": "compile", "sql": sql}
        )
    return server.records


def capture_all(out_dir: Path) -> Counter[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mtx-redshift-capture-") as tmp:
        records = capture_dbt(Path(tmp))
    records += capture_glue() + capture_analytics_api() + capture_migrations() + capture_data_checks()
    by_source: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_source.setdefault(record["source"], []).append(record)
    for old in out_dir.glob("*.jsonl"):
        old.unlink()
    for source, items in by_source.items():
        path = out_dir / (re.sub(r"\W+", "_", source).strip("_") + ".jsonl")
        path.write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
    return Counter({source: len(items) for source, items in by_source.items()})


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.splitlines()[0], "\nusage: redshift_capture.py OUT_DIR", file=sys.stderr)
        return 2
    counts = capture_all(Path(args[0]))
    for source, count in sorted(counts.items()):
        print(f"  {source:<24} {count:>5} statement(s) captured")
    print(f"captured {sum(counts.values())} statement(s) for Redshift into {args[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
