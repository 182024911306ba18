"""The analytics refresh's Glue steps as the ASL has them: the crawler started with aws-sdk:glue:startCrawler
and polled with getCrawler, the job run with glue:startJobRun.sync. The real definition runs in moto's
interpreter with the local runtime's patches; behind moto's Glue API the crawl and the job are stand-ins
(orchestration/runtime/glue.py RUNNERS), dbt and the data checks are stub handlers. What is checked is the
workflow: the arguments the job gets, waiting for a crawl already running, and that a failed crawl or job
ends in the alert and the named Fail state, as every other failure of the refresh does."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestration.runtime import glue as standins
from orchestration.runtime import sfn

pytestmark = pytest.mark.unit
REGION = "us-east-1"
ACCOUNT = "123456789012"
CRAWLER = "mtx-test-transactions-crawler"
JOB = f"mtx-test-{standins.JOB_SUFFIX}"


class Refresh:
    def __init__(self, clients: Any, inbox: str, arn: str) -> None:
        self.clients, self.inbox, self.arn = clients, inbox, arn
        self.calls: list[str] = []

    def run(self, payload: dict[str, Any]) -> dict[str, Any]:
        client = self.clients("stepfunctions")
        ex = client.start_execution(stateMachineArn=self.arn, name=uuid.uuid4().hex, input=json.dumps(payload))
        deadline = time.monotonic() + 120  # a deadline, not a count of polls: a loaded box slows each poll
        while time.monotonic() < deadline:
            d = client.describe_execution(executionArn=ex["executionArn"])
            if d["status"] != "RUNNING":
                return dict(d)
            time.sleep(0.01)
        history = client.get_execution_history(executionArn=ex["executionArn"], reverseOrder=True, maxResults=5)
        raise TimeoutError(f"still running after 120 s; last events: {[e['type'] for e in history['events']]}")

    def alerts(self) -> list[dict[str, Any]]:
        messages = self.clients("sqs").receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


@pytest.fixture
def refresh() -> Iterator[Refresh]:
    sfn.install(time_scale=0.0)
    standins.patch_moto_glue()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):

        def clients(service: str) -> Any:
            return boto3.client(service, region_name=REGION)

        glue, sqs, sns = clients("glue"), clients("sqs"), clients("sns")
        glue.create_database(DatabaseInput={"Name": "mtx_test"})
        glue.create_crawler(Name=CRAWLER, Role="r", DatabaseName="mtx_test",
                            Targets={"S3Targets": [{"Path": "s3://analytics/transactions/"}]})  # fmt: skip
        glue.create_job(Name=JOB, Role="r", Command={"Name": "glueetl", "ScriptLocation": "s3://scripts/job.py"},
                        DefaultArguments={"--database": "mtx_test"})  # fmt: skip
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"})
        values = {
            "glue_crawler_name": CRAWLER, "glue_job_name": JOB, "alerts_topic_arn": topic,
            "build_marts_function_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:build-marts",
            "run_data_checks_function_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:run-data-checks",
        }  # fmt: skip
        definition = sfn.render_definition(sfn.STATE_MACHINES_DIR / "analytics_refresh.asl.json", values)
        arn = clients("stepfunctions").create_state_machine(
            name="refresh", definition=definition, roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn"
        )["stateMachineArn"]
        it = Refresh(clients, inbox, arn)
        for name in ("build-marts", "run-data-checks"):
            sfn.REGISTRY.register(name, lambda event, ctx, name=name: it.calls.append(name) or {"ok": True})
        yield it
        standins.wait_for_runs(10)
    sfn.REGISTRY.clear()


def crawl_ok(crawler: Any) -> dict[str, Any]:
    time.sleep(0.3)  # still RUNNING at the first getCrawler: the loop must go round
    return {"summary": "1 table", "TablesCreated": 1}


def test_a_refresh_crawls_then_runs_the_job_with_only_the_arguments_given(
    refresh: Refresh, monkeypatch: pytest.MonkeyPatch
) -> None:
    crawls: list[str] = []
    runs: list[dict[str, str]] = []
    monkeypatch.setitem(standins.RUNNERS, "crawler", lambda c: crawls.append(c.name) or crawl_ok(c))
    monkeypatch.setitem(standins.RUNNERS, "job", lambda name, run_id, args: runs.append(args) or "done")

    d = refresh.run({"from_date": None, "to_date": None, "backfill": False})
    assert d["status"] == "SUCCEEDED", d
    out = json.loads(d["output"])
    assert out["flatten"]["JobRunState"] == "SUCCEEDED"
    assert out["crawl"]["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED"
    d2 = refresh.run({"from_date": "2026-03-01", "to_date": "2026-03-31", "backfill": True})
    assert d2["status"] == "SUCCEEDED", d2

    assert crawls == [CRAWLER, CRAWLER]
    # the job's defaults + the run's arguments; null dates are left out; the execution is the lineage's parent run
    lineage = [{"--parent_run_id": x["executionArn"], "--crawler_name": CRAWLER} for x in (d, d2)]
    assert runs == [
        {"--database": "mtx_test", "--backfill": "false", **lineage[0]},
        {"--database": "mtx_test", "--backfill": "true", "--from_date": "2026-03-01", "--to_date": "2026-03-31",
         **lineage[1]},
    ]  # fmt: skip
    assert refresh.calls == ["build-marts", "run-data-checks"] * 2
    assert refresh.alerts() == []


def test_a_crawl_already_running_is_waited_for_not_started_again(
    refresh: Refresh, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    crawls: list[str] = []

    def crawl(crawler: Any) -> dict[str, Any]:
        crawls.append(crawler.name)
        assert release.wait(10)
        return {"summary": "done"}

    monkeypatch.setitem(standins.RUNNERS, "crawler", crawl)
    monkeypatch.setitem(standins.RUNNERS, "job", lambda *args: "done")
    refresh.clients("glue").start_crawler(Name=CRAWLER)  # someone else's crawl
    threading.Timer(1.0, release.set).start()
    d = refresh.run({"from_date": None, "to_date": None, "backfill": False})
    assert d["status"] == "SUCCEEDED", d
    assert crawls == [CRAWLER]  # StartCrawler answered CrawlerRunningException: the refresh waited for that crawl


def test_a_failed_crawl_alerts_and_fails_the_refresh_before_the_job(
    refresh: Refresh, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crawl(crawler: Any) -> dict[str, Any]:
        raise ValueError("PII fields in the analytics objects: ['client_ip']")

    runs: list[Any] = []
    monkeypatch.setitem(standins.RUNNERS, "crawler", crawl)
    monkeypatch.setitem(standins.RUNNERS, "job", lambda *args: runs.append(args) or "done")
    d = refresh.run({"from_date": None, "to_date": None, "backfill": False})
    assert (d["status"], d["error"]) == ("FAILED", "AnalyticsRefreshFailed")
    [alert] = refresh.alerts()
    assert alert["error"]["Error"] == "CrawlerFailed"
    last_crawl = json.loads(alert["error"]["Cause"])
    assert last_crawl["Status"] == "FAILED" and "PII fields" in last_crawl["ErrorMessage"]
    assert runs == [] and refresh.calls == []


def test_a_failed_job_run_alerts_and_fails_the_refresh_before_dbt(
    refresh: Refresh, monkeypatch: pytest.MonkeyPatch
) -> None:
    def job(name: str, run_id: str, arguments: dict[str, str]) -> str:
        raise RuntimeError("warehouse unreachable")

    monkeypatch.setitem(standins.RUNNERS, "crawler", crawl_ok)
    monkeypatch.setitem(standins.RUNNERS, "job", job)
    d = refresh.run({"from_date": None, "to_date": None, "backfill": False})
    assert (d["status"], d["error"]) == ("FAILED", "AnalyticsRefreshFailed")
    [alert] = refresh.alerts()
    assert alert["error"]["Error"] == "States.TaskFailed"
    run = json.loads(alert["error"]["Cause"])
    assert (run["JobRunState"], run["ErrorMessage"]) == ("FAILED", "RuntimeError: warehouse unreachable")
    assert refresh.calls == []
