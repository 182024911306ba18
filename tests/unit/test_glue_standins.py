"""The local runtime's Glue stand-ins: behind moto's StartCrawler/StartJobRun our crawler and job run,
and GetCrawler/GetJobRun report RUNNING, then the outcome, as AWS Glue does (orchestration/runtime/glue.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestration.runtime import glue as standins

pytestmark = pytest.mark.unit

CRAWLER = "mtx-test-transactions-crawler"
JOB = f"mtx-test-{standins.JOB_SUFFIX}"


@pytest.fixture
def glue() -> Iterator[Any]:
    standins.patch_moto_glue()
    standins.patch_moto_glue()  # idempotent
    with mock_aws():
        client = boto3.client("glue", region_name="us-east-1")
        client.create_database(DatabaseInput={"Name": "mtx_test"})
        client.create_crawler(Name=CRAWLER, Role="arn:aws:iam::123456789012:role/r", DatabaseName="mtx_test",
                              Targets={"S3Targets": [{"Path": "s3://analytics/transactions/"}]})  # fmt: skip
        client.create_job(Name=JOB, Role="arn:aws:iam::123456789012:role/r",
                          Command={"Name": "glueetl", "ScriptLocation": "s3://scripts/job.py"},
                          DefaultArguments={"--database": "mtx_test"})  # fmt: skip
        yield client
        standins.wait_for_runs(10)


class Gate:
    """A runner that blocks until released, then returns or raises."""

    def __init__(self, outcome: str | None = "done", error: str | None = None) -> None:
        self.release = threading.Event()
        self.calls: list[tuple[Any, ...]] = []
        self.outcome, self.error = outcome, error

    def __call__(self, *args: Any) -> str | None:
        self.calls.append(args)
        assert self.release.wait(10)
        if self.error:
            raise RuntimeError(self.error)
        return self.outcome


def until(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_crawler_runs_behind_start_crawler_and_reports_as_aws(glue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate("crawled")
    monkeypatch.setitem(standins.RUNNERS, "crawler", gate)
    glue.start_crawler(Name=CRAWLER)
    crawler = glue.get_crawler(Name=CRAWLER)["Crawler"]
    assert crawler["State"] == "RUNNING"
    assert "LastCrawl" not in crawler  # nothing has finished yet
    with pytest.raises(glue.exceptions.CrawlerRunningException):
        glue.start_crawler(Name=CRAWLER)
    gate.release.set()
    done = until(lambda: (c := glue.get_crawler(Name=CRAWLER)["Crawler"])["State"] == "READY" and c)
    assert done["LastCrawl"]["Status"] == "SUCCEEDED"
    assert "ErrorMessage" not in done["LastCrawl"]
    assert gate.calls[0][0].name == CRAWLER
    assert gate.calls[0][0].database_name == "mtx_test"


def test_a_failed_crawl_reports_failed_with_its_message(glue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate(error="PII fields in the analytics objects: ['client_ip']")
    monkeypatch.setitem(standins.RUNNERS, "crawler", gate)
    glue.start_crawler(Name=CRAWLER)
    gate.release.set()
    done = until(lambda: (c := glue.get_crawler(Name=CRAWLER)["Crawler"])["State"] == "READY" and c)
    assert done["LastCrawl"]["Status"] == "FAILED"
    assert "client_ip" in done["LastCrawl"]["ErrorMessage"]
    glue.start_crawler(Name=CRAWLER)  # a finished crawl does not block the next one


def test_job_runs_behind_start_job_run_and_reports_as_aws(glue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate("succeeded")
    monkeypatch.setitem(standins.RUNNERS, "job", gate)
    run_id = glue.start_job_run(JobName=JOB, Arguments={"--from_date": "2026-03-01"})["JobRunId"]
    assert glue.get_job_run(JobName=JOB, RunId=run_id)["JobRun"]["JobRunState"] == "RUNNING"
    with pytest.raises(glue.exceptions.ConcurrentRunsExceededException):
        glue.start_job_run(JobName=JOB)
    gate.release.set()
    run = until(lambda: (r := glue.get_job_run(JobName=JOB, RunId=run_id)["JobRun"])["JobRunState"] != "RUNNING" and r)
    assert run["JobRunState"] == "SUCCEEDED"
    assert "ErrorMessage" not in run
    name, got_id, arguments = gate.calls[0]
    assert (name, got_id) == (JOB, run_id)
    assert arguments == {"--database": "mtx_test", "--from_date": "2026-03-01"}  # job defaults + run arguments


def test_a_failed_job_run_reports_failed_with_its_message(glue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate(error="warehouse unreachable")
    monkeypatch.setitem(standins.RUNNERS, "job", gate)
    run_id = glue.start_job_run(JobName=JOB)["JobRunId"]
    gate.release.set()
    run = until(lambda: (r := glue.get_job_run(JobName=JOB, RunId=run_id)["JobRun"])["JobRunState"] != "RUNNING" and r)
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "RuntimeError: warehouse unreachable"


def test_other_jobs_keep_motos_behaviour(glue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(standins.RUNNERS, "job", lambda *args: None)  # not ours
    glue.create_job(Name="other", Role="r", Command={"Name": "glueetl", "ScriptLocation": "s3://s/j.py"})
    run_id = glue.start_job_run(JobName="other")["JobRunId"]
    standins.wait_for_runs(10)
    assert glue.get_job_run(JobName="other", RunId=run_id)["JobRun"]["JobRunState"] in {"STARTING", "RUNNING",
                                                                                         "SUCCEEDED"}  # fmt: skip


def test_the_real_runners_leave_other_names_alone() -> None:
    class Crawler:
        name, database_name, targets = "someone-elses-crawler", "db", {}

    assert standins.run_crawler(Crawler()) is None
    assert standins.run_job("someone-elses-job", "jr_1", {}) is None


def test_the_provisioner_creates_the_crawler_and_job_the_state_machine_names_idempotently(glue: Any) -> None:
    from orchestration.runtime.manifest import build, create_glue_crawler_and_job
    from orchestration.settings import Settings

    s = Settings(name_prefix="mtx-prov", glue_database="mtx_test", analytics_bucket="analytics",
                 curated_bucket="curated", glue_scripts_bucket="scripts")  # fmt: skip
    create_glue_crawler_and_job(glue, s)
    create_glue_crawler_and_job(glue, s)
    values = build(s).placeholders({s.dead_letter_queue_name: "https://queue"})
    assert values["glue_crawler_name"] == "mtx-prov-transactions-crawler"
    assert values["glue_job_name"] == f"mtx-prov-{standins.JOB_SUFFIX}"
    assert glue.get_crawler(Name=values["glue_crawler_name"])["Crawler"]["State"] == "READY"
    assert glue.get_job(JobName=values["glue_job_name"])["Job"]["Name"] == values["glue_job_name"]
    crawler = glue.get_crawler(Name="mtx-prov-transactions-crawler")["Crawler"]
    assert crawler["Targets"]["S3Targets"][0]["Path"] == "s3://analytics/transactions/"
    assert crawler["DatabaseName"] == "mtx_test"
    job = glue.get_job(JobName=f"mtx-prov-{standins.JOB_SUFFIX}")["Job"]
    assert job["DefaultArguments"]["--curated_bucket"] == "curated"


def test_get_crawler_metrics_reports_the_last_crawl(glue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate({"summary": "table created", "TablesCreated": 1, "TablesUpdated": 0, "TablesDeleted": 0})  # type: ignore[arg-type]
    monkeypatch.setitem(standins.RUNNERS, "crawler", gate)
    before = glue.get_crawler_metrics(CrawlerNameList=[CRAWLER])["CrawlerMetricsList"][0]
    assert (before["CrawlerName"], before["TablesCreated"]) == (CRAWLER, 0)
    glue.start_crawler(Name=CRAWLER)
    assert glue.get_crawler_metrics(CrawlerNameList=[CRAWLER])["CrawlerMetricsList"][0]["StillEstimating"] is True
    gate.release.set()
    until(lambda: glue.get_crawler(Name=CRAWLER)["Crawler"]["State"] == "READY")
    after = glue.get_crawler_metrics(CrawlerNameList=[CRAWLER])["CrawlerMetricsList"][0]
    assert after["TablesCreated"] == 1 and after["StillEstimating"] is False
    assert after["LastRuntimeSeconds"] >= 0
