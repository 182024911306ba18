"""What ``mtx status`` and ``mtx report`` make of the business metrics (orchestration/cli/metrics_view.py,
status.py, report.py), from EMF lines printed by the real Powertools code of lambdas/common/metrics.py.

What could fail: a datum summed under the wrong entrance or reason, the per-transaction workflow's rejects
not counted as its dead letters (it sends them itself, no function publishes DeadLettered), a bulk reject
counted twice (DeadLettered and TransactionsRejected), the last dbt build mixed with an earlier one, lines
of an earlier run of the stack summed into this one, the stopped stack's figures not found, a stale mart
not making the status non-zero.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lambdas.common import metrics
from orchestration.cli import metrics_view, report, status
from orchestration.cli.main import main
from orchestration.runtime import emf

pytestmark = pytest.mark.unit

LETTERS = [{"error": {"Error": "InvalidTransaction"}}, {"error": {"Error": "DatabaseRejected"}},
           {"error": {"Error": "InvalidTransaction"}}]  # fmt: skip


def publish_a_run() -> None:
    """What the handlers publish for: 5 transactions on the API (3 stored, 1 rejected by the contract, 1 by the
    catalogue), a file chunk of 20, a stream batch of 7, a stuck one, two dbt builds and a data check."""
    for _ in range(5):
        metrics.emit("TransactionsReceived", 1, Entrance="api")
        with metrics.stage("ValidateTransaction"):
            pass
    metrics.rejected("api", "InvalidTransaction")
    metrics.rejected("api", "ItemNotFound")
    for _ in range(3):
        metrics.emit("TransactionsStored", 1, Entrance="api")
    metrics.batch_outcome("file", records=20, stored=15, duplicates=2, quarantined=1, letters=LETTERS)
    metrics.batch_outcome("stream", records=7, stored=7, duplicates=0, quarantined=0, letters=[])
    metrics.emit("DeadLettered", 1, Entrance="api", Reason="Stuck")
    metrics.emit("DbtModelsBuilt", 9, Outcome="success")
    metrics.emit("DbtModelsBuilt", 1, Outcome="error")
    metrics.emit("DbtTestsFailed", 2)
    metrics.emit("DbtModelsBuilt", 10, Outcome="success")
    metrics.emit("DbtTestsFailed", 0)
    metrics.emit("DataChecksFailed", 0)
    metrics.emit("DataChecksPassed", 41)
    metrics.emit("MartFreshnessMinutes", 12.5)


def test_counts_per_entrance_and_dead_letters_by_reason_from_real_emf_lines(tmp_path: Path) -> None:
    sink = tmp_path / "emf.ndjson"
    before = time.time()
    with emf.capture(sink):
        publish_a_run()
    view = metrics_view.summarise(emf.points(sink))
    doc = metrics_view.document(view, now=time.time())
    flow = {f["entrance"]: f for f in doc["flow"]}
    assert flow["api"] == {"entrance": "api", "received": 5, "stored": 3, "duplicates": 0, "rejected": 2,
                           "dead_lettered": 3, "quarantined": 0}  # fmt: skip
    assert flow["file"] == {"entrance": "file", "received": 20, "stored": 15, "duplicates": 2, "rejected": 2,
                            "dead_lettered": 3, "quarantined": 1}  # fmt: skip
    assert flow["stream"] == {"entrance": "stream", "received": 7, "stored": 7, "duplicates": 0, "rejected": 0,
                              "dead_lettered": 0, "quarantined": 0}  # fmt: skip
    assert doc["dead_letters_by_reason"] == [
        {"entrance": "api", "reason": "InvalidTransaction", "count": 1},
        {"entrance": "api", "reason": "ItemNotFound", "count": 1},
        {"entrance": "api", "reason": "Stuck", "count": 1},
        {"entrance": "file", "reason": "DatabaseRejected", "count": 1},
        {"entrance": "file", "reason": "InvalidTransaction", "count": 2},
    ]
    # throughput: every datum in a bucket of this run (10 s: the run is short), summing to the totals
    assert doc["throughput"]["bucket_seconds"] == 10
    points = doc["throughput"]["points"]
    assert {(m["entrance"], m["measure"]) for m in points} >= {("api", "received"), ("file", "stored")}
    for (entrance, measure), total in {("api", "received"): 5, ("api", "stored"): 3, ("file", "received"): 20,
                                       ("file", "stored"): 15, ("stream", "stored"): 7}.items():  # fmt: skip
        assert sum(m["count"] for m in points if (m["entrance"], m["measure"]) == (entrance, measure)) == total
    assert all(before - 10 <= _epoch(m["at"]) <= time.time() and _epoch(m["at"]) % 10 == 0 for m in points)
    assert all(m["per_minute"] == m["count"] * 6 for m in points)
    # the stages: five latencies of one stage
    assert [(s["stage"], s["count"]) for s in doc["stages"]] == [("ValidateTransaction", 5)]
    assert doc["stages"][0]["p50_ms"] <= doc["stages"][0]["p95_ms"] <= doc["stages"][0]["max_ms"]
    # the last dbt build only, and the data check with its freshness
    refresh = doc["refresh"]
    assert refresh["dbt"]["models"] == {"success": 10} and refresh["dbt"]["tests_failed"] == 0
    assert (refresh["data_checks"]["passed"], refresh["data_checks"]["failed"]) == (41, 0)
    assert refresh["freshness"]["minutes_at_check"] == 12.5 and not refresh["freshness"]["stale"]


def test_a_long_run_is_bucketed_per_minute() -> None:
    start = 1_800_000_000.0  # a whole minute
    points = [(start + i * 30, "TransactionsStored", {"Entrance": "stream"}, 10.0) for i in range(40)]  # 20 min
    doc = metrics_view.document(metrics_view.summarise(points), now=start + 1200)
    assert doc["throughput"]["bucket_seconds"] == 60
    assert [(p["count"], p["per_minute"]) for p in doc["throughput"]["points"]] == [(20, 20)] * 20


def _epoch(iso: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(iso).timestamp()


def test_the_marts_turn_stale_as_time_passes_after_the_check(tmp_path: Path) -> None:
    sink = tmp_path / "emf.ndjson"
    with emf.capture(sink):
        metrics.emit("DataChecksFailed", 1)
        metrics.emit("DataChecksPassed", 3)
        metrics.emit("MartFreshnessMinutes", 60.0)
    view = metrics_view.summarise(emf.points(sink))
    checked = view.checks[-1].at
    fresh = metrics_view.refresh(view, now=checked + 60 * 60)["freshness"]
    assert fresh["minutes_now"] == 120.0 and not fresh["stale"]
    later = metrics_view.refresh(view, now=checked + 60 * (metrics_view.STALE_AFTER_MINUTES - 59))
    assert later["freshness"]["stale"]
    doc = {"refresh": {**later, "execution": None}}
    assert any("stale" in p for p in status.problems(doc)) and any(
        "1 data checks failed" in p for p in status.problems(doc)
    )


def test_a_stopped_stack_shows_its_last_run_only_and_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    demo = home / "demo"  # where `make run` (mtx demo) keeps its stack
    with emf.capture(emf.stack_file(demo)):
        metrics.emit("TransactionsStored", 100, Entrance="api")  # an earlier run of that stack
    emf.mark_run(demo)
    with emf.capture(emf.stack_file(demo)):
        publish_a_run()
    assert main(["--home", str(home), "status", "--json"]) == status.EXIT_NOT_RUNNING
    doc = json.loads(capsys.readouterr().out)
    assert doc["stack"]["running"] is False and doc["exit_code"] == 3
    assert doc["metrics"]["file"] == str(emf.stack_file(demo.resolve()))
    assert {f["entrance"]: f["stored"] for f in doc["flow"]} == {"api": 3, "file": 15, "stream": 7}
    assert doc["dead_letter_queue"] is None and doc["cross_check"] == []
    # the tables say the same
    assert main(["--home", str(home), "status"]) == 3
    text = capsys.readouterr().out
    assert "Transactions per entrance" in text and "not running" in text
    assert any(line.split()[:4] == ["file", "20", "15", "2"] for line in text.splitlines())


def test_the_report_page_has_every_plot_as_inline_svg_and_nothing_remote(tmp_path: Path) -> None:
    home = tmp_path / "home"
    emf.mark_run(home)
    with emf.capture(emf.stack_file(home)):
        publish_a_run()
    out = tmp_path / "page" / "report.html"
    assert main(["--home", str(home), "report", "--out", str(out)]) == 0
    page = out.read_text()
    for plot in ("throughput", "dead-letters", "stage-latency", "freshness"):
        section = page.split(f"id='{plot}'", 1)[1].split("</section>", 1)[0]
        assert "<svg" in section and "nothing to draw" not in section
    assert "<script src" not in page and "<link" not in page and "cdn" not in page.lower()
    embedded = page.split('id="status-document">', 1)[1].split("</script>", 1)[0]
    assert json.loads(embedded)["flow"][1]["stored"] == 15
    assert report.default_path(home) == home.resolve() / "report" / "index.html"


def test_a_stopped_stack_shows_the_stack_that_wrote_metrics_last(tmp_path: Path) -> None:
    import os

    home = tmp_path / "home"
    for h, stored in ((home, 4), (home / "demo", 9)):
        emf.mark_run(h)
        with emf.capture(emf.stack_file(h)):
            metrics.emit("TransactionsStored", stored, Entrance="file")
    os.utime(emf.stack_file(home / "demo"), (1, 1))  # `make run` long ago, `mtx up` since
    assert {f["entrance"]: f["stored"] for f in status.gather(home)["flow"]}["file"] == 4
    os.utime(emf.stack_file(home), (0, 0))
    assert {f["entrance"]: f["stored"] for f in status.gather(home)["flow"]}["file"] == 9
    assert report.default_path(home) == (home / "demo").resolve() / "report" / "index.html"
