"""``mtx status --json`` and ``mtx report`` on the real local stack, and the report in an offline browser.

Valid and invalid transactions go through the real entrances (the API and a dropped file); what status
says changed must equal what the stores and the dead-letter queue say changed (counted by the test on
its own: compliance rows, the queue's letters by reason). The report page is opened in headless Chromium
with no network: each plot must be drawn (Vega's marks with a size, one per data point), nothing fetched,
no script error.

What could fail: a count read from the wrong run or entrance, a dead letter missed (the workflow's own
rejects, the API's refusals), the queue's depth or oldest letter wrong, a plot empty or clipped to
nothing, a page that reaches for a CDN.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from orchestration.cli import batch, dlq
from orchestration.cli.connect import post_lines
from orchestration.cli.main import main
from orchestration.runtime import emf
from orchestration.runtime.ingest import wait_for
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.generate import generate
from tests.browser import offline_page

pytestmark = pytest.mark.integration


def status_json(home: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    code = main(["--home", str(home), "status", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == doc["exit_code"]
    return doc


def compliance_rows(stack: LocalStack) -> int:
    with psycopg.connect(stack.dsn("compliance")) as conn:
        return int(conn.execute("select count(*) from compliance.transactions").fetchone()[0])  # type: ignore[index]


def settled(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], int]:
    """The status document and the compliance rows once earlier tests' late work has finished: both read
    the same twice in a row (an execution started by an earlier test may write its compliance row before
    one snapshot and publish its stored metric after it; the shared stack is not idle between tests)."""
    previous: tuple[Any, int] | None = None
    for _ in range(60):
        doc, rows = status_json(stack.home, capsys), compliance_rows(stack)
        current = (totals(doc), rows)
        if current == previous:
            return doc, rows
        previous = current
        time.sleep(1.0)
    raise AssertionError("the stack never settled: stores or metrics kept changing for a minute")


def totals(doc: dict[str, Any]) -> tuple[Counter[str], Counter[str]]:
    """(stored per entrance, dead letters per reason) of a status document."""
    stored = Counter({f["entrance"]: f["stored"] for f in doc["flow"]})
    letters: Counter[str] = Counter()
    for d in doc["dead_letters_by_reason"]:
        letters[d["reason"]] += d["count"]
    return stored, letters


def test_status_counts_equal_the_stores_and_the_dead_letter_queue(
    clean_queues: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = clean_queues
    s = stack.require_settings()
    before, rows_before = settled(stack, capsys)
    assert before["stack"]["running"] is True and before["exit_code"] != 3
    assert before["dead_letter_queue"]["depth"] == 0

    # the API: valid ones, bodies the contract refuses, and items the catalogue refuses
    records = list(generate(60, seed=7301, invalid_share=0.3, duplicate_share=0.05))
    assert stack.api is not None
    results = post_lines(stack.api.url, (r.line for r in records), concurrency=4, api_key=stack.producer_key)
    outcomes = wait_for(stack.client, [r["body"]["executionArn"] for r in results if r["status"] == 202], timeout=600)
    assert not outcomes.running
    # a file: the bulk path
    lines = [r.line for r in generate(80, seed=7302, invalid_share=0.1)]
    known = batch.run_ids(stack.client, s, "incoming/status.ndjson")
    key = batch.upload_bytes(stack.client, s, ("\n".join(lines) + "\n").encode(), "status.ndjson")
    run = batch.wait_for_run(stack.client, s, key, timeout=600, known=known)
    assert run["status"] == "COMPLETED"

    after = status_json(stack.home, capsys)
    letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    by_reason = Counter(d.error for d in letters)
    refused = sum(1 for d in letters if d.failed_state == "ApiEntrance")
    assert refused > 0 and len(letters) > refused  # both kinds of letters happened

    stored_before, letters_before = totals(before)
    stored_after, letters_after = totals(after)
    stored_delta = stored_after - stored_before
    assert sum(stored_delta.values()) == compliance_rows(stack) - rows_before == len(outcomes.stored) + run["stored"]
    assert stored_delta["file"] == run["stored"] and stored_delta["api"] == len(outcomes.stored)
    # the metrics' dead letters, and the API's refusals, are the queue's letters by reason
    published = letters_after - letters_before
    refused_by_reason = Counter(d.error for d in letters if d.failed_state == "ApiEntrance")
    assert published + refused_by_reason == by_reason
    queue = after["dead_letter_queue"]
    assert queue["depth"] == len(letters) and queue["by_reason"] == dict(by_reason)
    assert queue["refused_at_the_api"] == refused and queue["refused_by_reason"] == dict(refused_by_reason)
    assert 0 <= queue["oldest_age_seconds"] < 3600
    assert after["refresh"]["execution"] is None or after["refresh"]["execution"]["status"]


def test_the_report_draws_its_plots_in_an_offline_browser(tmp_path: Path) -> None:
    """From real EMF lines of a stopped stack's home (the state `make run` leaves)."""
    from lambdas.common import metrics

    home = tmp_path / "home"
    emf.mark_run(home)
    with emf.capture(emf.stack_file(home)):
        for _ in range(6):
            metrics.emit("TransactionsReceived", 1, Entrance="api")
        metrics.emit("TransactionsStored", 5, Entrance="api")
        metrics.rejected("api", "InvalidTransaction")  # the workflow dead-letters it itself
        for entrance, n in (("file", 30), ("stream", 12)):
            letters = [{"error": {"Error": "InvalidTransaction"}}, {"error": {"Error": "Stuck"}}]
            metrics.batch_outcome(entrance, records=n, stored=n - 3, duplicates=1, quarantined=0, letters=letters)
        for stage in ("ValidateTransaction", "StoreCompliance", "ProcessChunk"):
            with metrics.stage(stage):
                pass
        metrics.emit("DbtModelsBuilt", 12, Outcome="success")
        metrics.emit("DbtTestsFailed", 0)
        metrics.emit("DataChecksFailed", 0)
        metrics.emit("DataChecksPassed", 30)
        metrics.emit("MartFreshnessMinutes", 42.0)
    out = tmp_path / "report" / "index.html"
    assert main(["--home", str(home), "report", "--out", str(out)]) == 0
    doc = json.loads(out.read_text().split('id="status-document">', 1)[1].split("</script>", 1)[0])

    with offline_page() as browser:
        browser.open(out)
        drawn = browser.js(
            """() => Object.fromEntries(['throughput', 'dead-letters', 'stage-latency', 'freshness'].map(id => {
                 const svg = document.querySelector('#' + id + ' svg');
                 const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
                 const marks = sel => Array.from(svg ? svg.querySelectorAll(sel) : [])
                   .map(p => p.getBoundingClientRect()).filter(r => r.width > 0 || r.height > 0).length;
                 return [id, {width: box.width, height: box.height,
                              points: marks('g.mark-symbol.role-mark path'), bars: marks('g.mark-rect.role-mark path'),
                              lines: svg ? svg.querySelectorAll('g.mark-line.role-mark path').length : 0}];
               }))"""
        )
        rows = browser.js("() => document.querySelectorAll('table tbody tr').length")
        assert browser.remote == [] and browser.errors == []
    assert all(d["width"] > 100 and d["height"] > 50 for d in drawn.values()), drawn
    # one point per (bucket, entrance, measure), a line per (entrance, measure); one bar per datum
    points = doc["throughput"]["points"]
    assert drawn["throughput"]["points"] == len(points) >= 6
    assert drawn["throughput"]["lines"] == len({(m["entrance"], m["measure"]) for m in points}) == 6
    assert drawn["dead-letters"]["bars"] == len(doc["dead_letters_by_reason"]) == 5
    assert drawn["stage-latency"]["bars"] == 2 * len(doc["stages"]) == 6
    assert drawn["freshness"]["bars"] == 1
    assert rows >= 3 + 5  # the flow's entrances and the dead letters by reason, at least
