"""Lineage through the real local stack: a batch file, then an analytics refresh; the OpenLineage file holds the
chain raw bucket -> analytics copy -> Glue table -> warehouse raw table -> dbt models -> marts, the refresh as the
parent run of the crawl, the job and dbt, valid events, and none of the sample data's IPs or card digits."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from contracts import lineage
from orchestration.cli import batch
from orchestration.cli import lineage as lineage_cli
from orchestration.cli.main import main
from orchestration.runtime.lineage_file import events_file
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.generate import generate
from tests.helpers import run_execution
from tests.lineage_helpers import rebuild, strings

pytestmark = pytest.mark.integration
COUNT = 30


def reachable(edges: list[dict[str, Any]], start: str) -> set[str]:
    frontier, seen = {start}, set()
    while frontier:
        seen |= frontier
        frontier = {e["to"] for e in edges if e["from"] in frontier} - seen
    return seen


@pytest.mark.timeout(1800)
def test_a_batch_and_a_refresh_leave_the_chain_from_raw_to_marts(
    clean_queues: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = clean_queues
    s = stack.require_settings()
    records = [json.loads(r.line) for r in generate(COUNT, seed=2424, invalid_share=0.0, duplicate_share=0.0,
                                                    start=dt.date(2026, 5, 1), end=dt.date(2026, 5, 3))]  # fmt: skip
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    key = batch.upload_bytes(stack.client, s, body, "lineage-test.ndjson")
    run = batch.wait_for_run(stack.client, s, key, timeout=600)
    assert run["status"] == "COMPLETED" and int(run["stored"]) == COUNT, run
    d = run_execution(stack, "analytics_refresh", {"from_date": None, "to_date": None, "backfill": False}, 1200)
    assert d["status"] == "SUCCEEDED", d.get("cause")
    execution = d["executionArn"]

    text = events_file(stack.home).read_text()
    events = [json.loads(line) for line in text.splitlines()]
    refresh = lineage.run_id(lineage.REFRESH_JOB, execution)
    # every event is a valid OpenLineage run event
    for e in events:
        rebuild(e)

    # the batch: raw file in, compliance table and analytics prefix out, with the stored count
    batch_id = lineage.run_id(lineage.BATCH_INGEST_JOB, str(run["run_id"]))
    mine = [e for e in events if e["run"]["runId"] == batch_id]
    assert [e["eventType"] for e in mine] == ["START", "COMPLETE"]
    assert [(i["namespace"], i["name"]) for i in mine[-1]["inputs"]] == [(f"s3://{s.raw_bucket}", key)]
    stored = {o["name"]: o["outputFacets"]["outputStatistics"]["rowCount"] for o in mine[-1]["outputs"]}
    assert stored == {"transactions": COUNT, "compliance.compliance.transactions": COUNT}

    # the refresh is the parent of the crawl, the flatten job (START and COMPLETE) and the dbt run
    children = [e for e in events if (e["run"].get("facets") or {}).get("parent", {}).get("run", {}).get("runId")
                == refresh]  # fmt: skip
    jobs = {(e["job"]["name"], e["eventType"]) for e in children}
    crawler = f"{s.name_prefix}-transactions"
    assert {(lineage.FLATTEN_JOB, "START"), (lineage.FLATTEN_JOB, "COMPLETE"), ("dbt_build", "START"),
            ("dbt_build", "COMPLETE")} <= jobs, jobs  # fmt: skip
    assert any(name.startswith(crawler) and state == "COMPLETE" for name, state in jobs), jobs
    flatten = next(e for e in children if e["job"]["name"] == lineage.FLATTEN_JOB and e["eventType"] == "COMPLETE")
    loaded = {o["name"]: (o.get("outputFacets") or {}).get("outputStatistics", {}).get("rowCount")
              for o in flatten["outputs"]}  # fmt: skip
    assert loaded["warehouse.raw.mtx_transactions"] >= COUNT  # this batch's rows, and any pending from before
    # dbt's model runs are children of the dbt run, whose root is the refresh
    dbt_run = next(e["run"]["runId"] for e in children if e["job"]["name"] == "dbt_build")
    models = [e for e in events if (e["run"].get("facets") or {}).get("parent", {}).get("run", {}).get("runId")
              == dbt_run]  # fmt: skip
    assert models and all(e["run"]["facets"]["parent"]["root"]["run"]["runId"] == refresh for e in models)

    # the data checks: the checked datasets with their assertions
    checks = next(e for e in children if e["job"]["name"] == lineage.DATA_CHECKS_JOB)
    assert checks["eventType"] == "COMPLETE"
    checked = {i["name"]: i["inputFacets"]["dataQualityAssertions"]["assertions"] for i in checks["inputs"]}
    assert all(a["success"] for a in checked["warehouse.raw.mtx_transactions"])

    # the chain, as `mtx lineage` reads it
    data = lineage_cli.graph(events, execution)
    assert data is not None and data["run_id"] == refresh
    raw = [f"{x['namespace']}/{x['name']}" for x in data["stages"]["raw"]]
    assert f"s3://{s.raw_bucket}/{key}" in raw
    curated = {x["name"] for x in data["stages"]["curated"]}
    assert {"transactions", f"table/{s.glue_database}/transactions"} <= curated
    assert "warehouse.raw.mtx_transactions" in {x["name"] for x in data["stages"]["warehouse"]}
    marts = {x["name"].rsplit(".", 1)[-1] for x in data["stages"]["marts"]}
    assert {"fct_transactions", "fct_daily_revenue", "dim_players"} <= marts, marts
    downstream = reachable(data["edges"], f"s3://{s.raw_bucket}/{key}")
    assert any(x.endswith(".fct_transactions") for x in downstream), sorted(downstream)

    capsys.readouterr()  # what the handlers printed so far (their metric lines)
    assert main(["--home", str(stack.home), "lineage", "--run", execution, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == refresh

    # no personal data: no IP, no card digits anywhere in the lineage file's values
    ips = {r["client_ip"] for r in records if r.get("client_ip")}
    cards = {r["payment_details"]["card_last4"] for r in records if r["payment_details"].get("card_last4")}
    assert ips and cards
    values = [v for e in events for v in strings(e)]
    assert not [v for v in values if v in ips or v in cards]
    assert not [ip for ip in ips if ip in text]
