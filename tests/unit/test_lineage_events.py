"""Lineage events (contracts/lineage.py and its producers): names, run ids, facets, transport; `mtx lineage`'s graph.

The events are built by the real builders and written by the real client's file transport; each is read back
and rebuilt through the client's attrs classes (tests/lineage_helpers.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts import lineage
from contracts.config import get_settings
from lambdas.common import batch_lineage
from orchestration.cli import lineage as lineage_cli
from orchestration.cli.main import main
from tests.lineage_helpers import rebuild, strings

pytestmark = pytest.mark.unit
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:mtx-local-analytics-refresh:nightly"


@pytest.fixture
def lineage_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "events.ndjson"
    lineage.configure({"transport": {"type": "file", "log_file_path": str(path), "append": True}})
    yield path
    lineage.configure(None)


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def as_json(event: Any) -> dict[str, Any]:
    from openlineage.client.serde import Serde

    return dict(json.loads(Serde.to_json(event)))


def test_run_ids_are_uuids_stable_across_producers() -> None:
    import uuid

    a = lineage.run_id(lineage.REFRESH_JOB, EXECUTION)
    assert a == lineage.run_id(lineage.REFRESH_JOB, EXECUTION)  # the job and dbt derive the same parent
    assert a != lineage.run_id(lineage.REFRESH_JOB, EXECUTION + "x")
    assert str(uuid.UUID(a)) == a


def test_a_failure_names_the_error_class_never_its_message() -> None:
    secret = "4242"
    event = as_json(
        lineage.run_event(
            "FAIL", lineage.FLATTEN_JOB, lineage.run_id("x"),
            parent_run_id=lineage.run_id(lineage.REFRESH_JOB, EXECUTION),
            error=ValueError(f"card_last4 {secret} at 10.1.2.3 is bad"),
        )
    )  # fmt: skip
    rebuild(event)
    assert event["run"]["facets"]["errorMessage"]["message"] == "ValueError"
    assert event["run"]["facets"]["parent"]["run"]["runId"] == lineage.run_id(lineage.REFRESH_JOB, EXECUTION)
    job = event["run"]["facets"]["parent"]["job"]
    assert (job["namespace"], job["name"]) == (lineage.namespace(), "analytics_refresh")
    assert secret not in json.dumps(event) and "10.1.2.3" not in json.dumps(event)


def test_datasets_carry_schema_and_statistics_facets() -> None:
    out = lineage.output_dataset(
        lineage.warehouse_dataset("127.0.0.1", 5433, "warehouse", "raw", "mtx_transactions", redshift=False),
        fields=[("transaction_id", "varchar(64)"), ("price_amount", "numeric(18,3)")], rows=42, files=3,
    )  # fmt: skip
    inp = lineage.input_dataset(lineage.glue_table_dataset("mtx_local", "transactions"), rows=50)
    made = lineage.run_event("COMPLETE", lineage.FLATTEN_JOB, lineage.run_id("y"), inputs=[inp], outputs=[out])
    event = as_json(made)
    rebuild(event)
    (o,), (i,) = event["outputs"], event["inputs"]
    assert (o["namespace"], o["name"]) == ("postgres://127.0.0.1:5433", "warehouse.raw.mtx_transactions")
    assert [f["name"] for f in o["facets"]["schema"]["fields"]] == ["transaction_id", "price_amount"]
    assert o["outputFacets"]["outputStatistics"]["rowCount"] == 42
    assert o["outputFacets"]["outputStatistics"]["fileCount"] == 3
    s = get_settings()
    assert (i["namespace"], i["name"]) == (f"arn:aws:glue:{s.region}:{s.account_id}", "table/mtx_local/transactions")
    assert i["inputFacets"]["inputStatistics"]["rowCount"] == 50
    # redshift, as openlineage-dbt names a dbt-redshift relation
    assert lineage.warehouse_dataset("h", 5439, "analytics", "raw", "t", redshift=True)[0] == "redshift://h:5439"


def test_with_no_configuration_nothing_is_emitted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [k for k in os.environ if k.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no openlineage.yml here
    monkeypatch.setenv("HOME", str(tmp_path))  # nor in ~/.openlineage
    lineage.configure(None)
    try:
        assert lineage.client() is None  # the client's own fallback would print events: we stay silent
        assert lineage.emit(lineage.run_event("START", "j", lineage.run_id("z"))) == 0
        monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9/api/v1/lineage")  # configured: on
        lineage.configure(None)
        assert lineage.enabled()
        monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
        lineage.configure(None)
        assert not lineage.enabled()
    finally:
        lineage.configure(None)


def test_emitting_never_fails_the_caller(tmp_path: Path) -> None:
    lineage.configure({"transport": {"type": "file", "log_file_path": str(tmp_path), "append": True}})  # a folder
    try:
        assert lineage.emit(lineage.run_event("START", "j", lineage.run_id("w"))) == 0
    finally:
        lineage.configure(None)


def test_the_batch_ingest_reports_file_in_stores_out(lineage_file: Path) -> None:
    s = get_settings()
    assert batch_lineage.started(s.raw_bucket, "incoming/day.ndjson", "run-1") == 1
    record = {"run_id": "run-1", "bucket": s.raw_bucket, "object_key": "incoming/day.ndjson"}
    assert batch_lineage.finished(record, {"records": 12, "stored": 10}, failed=False) == 1
    start, done = read(lineage_file)
    for e in (start, done):
        rebuild(e)
    assert (start["eventType"], done["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == done["run"]["runId"] == batch_lineage.batch_run_id("run-1")
    assert [(d["namespace"], d["name"]) for d in done["inputs"]] == [(f"s3://{s.raw_bucket}", "incoming/day.ndjson")]
    assert done["inputs"][0]["inputFacets"]["inputStatistics"]["rowCount"] == 12
    outputs = {(d["namespace"], d["name"]): d for d in done["outputs"]}
    analytics = outputs[(f"s3://{s.analytics_bucket}", "transactions")]
    compliance = outputs[lineage.compliance_dataset("compliance.transactions")]
    assert analytics["outputFacets"]["outputStatistics"]["rowCount"] == 10
    assert compliance["outputFacets"]["outputStatistics"]["rowCount"] == 10
    # the compliance table's schema names its columns (card_last4, client_ip among them), never a value
    assert "card_last4" in [f["name"] for f in compliance["facets"]["schema"]["fields"]]

    batch_lineage.finished({**record, "run_id": "run-2"}, {"records": 1}, failed=True, error="NotJsonFile")
    failed = read(lineage_file)[-1]
    assert failed["eventType"] == "FAIL" and failed["run"]["facets"]["errorMessage"]["message"] == "NotJsonFile"


def _refresh_events(execution: str, when: str) -> list[dict[str, Any]]:
    """A refresh as its producers report it: crawl, flatten job, dbt run with two model runs."""
    s = get_settings()
    parent = lineage.run_id(lineage.REFRESH_JOB, execution)
    analytics = lineage.s3_dataset(s.analytics_bucket, "transactions")
    table = lineage.glue_table_dataset("mtx_local", "transactions")
    raw = lineage.warehouse_dataset("127.0.0.1", 5433, "warehouse", "raw", "mtx_transactions", redshift=False)
    stg = (raw[0], "warehouse.analytics_staging.stg_mtx__transactions")
    fct = (raw[0], "warehouse.analytics.fct_transactions")
    dbt_run = lineage.run_id("dbt", execution)
    import datetime as dt

    at = dt.datetime.fromisoformat(when)
    events = [
        lineage.run_event("COMPLETE", "mtx-local-transactions", lineage.run_id("crawl", execution),
                          inputs=[lineage.input_dataset(analytics)], outputs=[lineage.output_dataset(table)],
                          parent_run_id=parent, event_time=at),
        lineage.run_event("COMPLETE", lineage.FLATTEN_JOB, lineage.run_id("flatten", execution),
                          inputs=[lineage.input_dataset(table)],
                          outputs=[lineage.output_dataset(lineage.s3_dataset(s.curated_bucket, "transactions/")),
                                   lineage.output_dataset(raw, rows=7)], parent_run_id=parent, event_time=at),
        lineage.run_event("START", "dbt_build", dbt_run, parent_run_id=parent, event_time=at),
        lineage.run_event("COMPLETE", "mtx.stg", lineage.run_id("stg", execution), inputs=[lineage.input_dataset(raw)],
                          outputs=[lineage.output_dataset(stg)], parent_run_id=dbt_run, parent_job="dbt_build",
                          event_time=at),
        lineage.run_event("COMPLETE", "mtx.fct", lineage.run_id("fct", execution), inputs=[lineage.input_dataset(stg)],
                          outputs=[lineage.output_dataset(fct)], parent_run_id=dbt_run, parent_job="dbt_build",
                          event_time=at),
    ]  # fmt: skip
    return [as_json(e) for e in events]


def test_mtx_lineage_follows_raw_to_marts_for_a_refresh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import datetime as dt

    s = get_settings()
    batch = lineage.run_event(
        "COMPLETE", lineage.BATCH_INGEST_JOB, batch_lineage.batch_run_id("b1"),
        inputs=[lineage.input_dataset(lineage.s3_dataset(s.raw_bucket, "incoming/a.ndjson"))],
        outputs=[lineage.output_dataset(lineage.s3_dataset(s.analytics_bucket, "transactions"), rows=7)],
        event_time=dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC),
    )  # fmt: skip
    older, latest = EXECUTION + "-old", EXECUTION
    events = [as_json(batch), *_refresh_events(older, "2026-03-01T10:00:00+00:00"),
              *_refresh_events(latest, "2026-03-02T10:00:00+00:00")]  # fmt: skip
    data = lineage_cli.graph(events)
    assert data is not None and data["kind"] == "refresh"
    assert data["run_id"] == lineage.run_id(lineage.REFRESH_JOB, latest)  # the latest by default
    assert lineage_cli.graph(events, older)["run_id"] == lineage.run_id(lineage.REFRESH_JOB, older)  # type: ignore[index]
    names = {stage: [d["name"] for d in data["stages"][stage]] for stage in lineage_cli.STAGES}
    assert names["raw"] == ["incoming/a.ndjson"]
    assert set(names["curated"]) == {"transactions", "table/mtx_local/transactions"}  # + the curated prefix
    assert len(data["stages"]["curated"]) == 3
    assert names["warehouse"] == ["warehouse.raw.mtx_transactions", "warehouse.analytics_staging.stg_mtx__transactions"]
    assert names["marts"] == ["warehouse.analytics.fct_transactions"]
    # one path of edges from the raw file to the mart
    edges = {(e["from"], e["to"]) for e in data["edges"]}
    frontier, seen = {f"s3://{s.raw_bucket}/incoming/a.ndjson"}, set()
    while frontier:
        seen |= frontier
        frontier = {b for a, b in edges if a in frontier} - seen
    assert "postgres://127.0.0.1:5433/warehouse.analytics.fct_transactions" in seen
    # a child run's id finds its refresh; an unknown id finds nothing
    child = lineage.run_id("fct", older)
    assert lineage_cli.graph(events, child)["run_id"] == lineage.run_id(lineage.REFRESH_JOB, older)  # type: ignore[index]
    assert lineage_cli.graph(events, "no-such-run") is None

    path = tmp_path / "events.ndjson"
    path.write_text("".join(json.dumps(e) + "\n" for e in events) + "not json\n")
    assert main(["--home", str(tmp_path), "lineage", "--file", str(path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["stages"]["marts"][0]["name"] == "warehouse.analytics.fct_transactions"
    assert main(["--home", str(tmp_path), "lineage", "--file", str(path)]) == 0
    out = capsys.readouterr().out
    assert "raw -> curated -> warehouse -> marts" in out and "fct_transactions" in out
    assert main(["--home", str(tmp_path), "lineage", "--file", str(tmp_path / "none.ndjson")]) == 1
    assert not [v for e in events for v in strings(e) if v == "4242"]


def test_data_checks_report_assertions_per_dataset_never_observed_values() -> None:
    from lambdas.run_data_checks.lineage import event

    summary = {
        "success": False,
        "suites": [
            {"suite": "s3.analytics_objects", "success": True, "evaluated": 9, "failed": 0},
            {"suite": "warehouse.raw.mtx_transactions", "success": False, "evaluated": 12, "failed": 1},
            {"suite": "marts.analytics.fct_transactions", "success": True, "evaluated": 5, "failed": 0},
            {"suite": "marts.reconciliation", "success": True, "evaluated": 3, "failed": 0},
        ],
        "failures": [{"suite": "warehouse.raw.mtx_transactions", "expectation_type": "expect_column_values_to_be_null",
                      "column": "client_ip", "observed_value": ["10.9.8.7"]}],
    }  # fmt: skip
    secret = {"host": "127.0.0.1", "port": 5433, "dbname": "warehouse"}
    e = as_json(event(summary, secret, EXECUTION))
    rebuild(e)
    assert e["eventType"] == "FAIL"
    assert e["run"]["facets"]["parent"]["run"]["runId"] == lineage.run_id(lineage.REFRESH_JOB, EXECUTION)
    checked = {i["name"]: i["inputFacets"]["dataQualityAssertions"]["assertions"] for i in e["inputs"]}
    assert set(checked) == {"transactions", "warehouse.raw.mtx_transactions", "warehouse.analytics.fct_transactions"}
    raw = checked["warehouse.raw.mtx_transactions"]
    assert [a["success"] for a in raw] == [False, False]
    assert raw[1]["assertion"] == "expect_column_values_to_be_null" and raw[1]["column"] == "client_ip"
    assert "10.9.8.7" not in json.dumps(e)
