"""The fault-injection soak, small: the same driver and audit as `make soak`, at rates that make faults certain.

How it is proved: orchestration/cli/soak.py sends transactions through the HTTP entrance and drops a file with
poison records in the raw bucket while the local runtime's fault injector kills PostgreSQL with kill -9
(then starts it again), fails S3/DynamoDB calls (throttling, 5xx, a connection dropped before or after the
call took effect), fails SQS sends and times out Lambda invocations after they ran. The audit then reads
every store back and checks every record against the fate the generator gave it. The rates here are
higher than the soak's so that every kind of fault happens in a short run; the test asserts that they did.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestration.cli.soak import SoakConfig, poison_records, run_soak
from orchestration.runtime import sfn
from orchestration.runtime.faults import KINDS, FaultInjector, FaultPlan
from orchestration.runtime.stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture
def retries_that_wait(clean_queues: LocalStack) -> Iterator[LocalStack]:
    """Retry sleeps on (a fifth of real time): the database retry budget must outlast a PostgreSQL restart,
    which it cannot when every retry fires at once (the suite's stack runs with sleeps off)."""
    sfn.set_time_scale(0.2)
    try:
        yield clean_queues
    finally:
        sfn.set_time_scale(0.0)
        clean_queues.moto.inject(None)


@pytest.mark.timeout(1800)
def test_nothing_is_lost_or_duplicated_under_injected_faults(retries_that_wait: LocalStack) -> None:
    stack = retries_that_wait
    plan = FaultPlan(s3=0.05, dynamodb=0.05, sqs_send=0.05, lambda_timeout=0.02, seed=7)
    cfg = SoakConfig(http=240, batch=2_000, poison=8, pg_crashes=2, pg_downtime=2.0, seed=4242, plan=plan)
    report = run_soak(stack, cfg, log=lambda _m: None)

    # what was lost first (the whole details are cut short in the assertion message)
    assert report.lost == 0, {
        k: report.details.get(k)
        for k in ("problems", "trails", "anonymous_letters", "http_statuses", "dead_letters_by_reason")
    }
    # what was doubled first (the whole details are cut short in the assertion message)
    assert report.duplicated == 0, {k: report.details.get(k) for k in ("problems", "trails", "dead_letters_by_reason")}
    assert report.valid_dead_lettered == 0, report.details
    assert report.pending == 0, report.details
    assert report.stored == report.details["expected_stored"]
    assert report.dead_lettered + report.quarantined >= report.details["expected_dead_lettered"]
    # the faults did happen, of every kind and at every place
    assert report.faults["postgres.kill_9"] == 2
    assert report.faults.get("lambda.timed_out", 0) > 0
    for service in ("s3", "dynamodb"):
        assert sum(report.faults.get(f"{service}.{kind}", 0) for kind in KINDS) > 0, report.faults
    assert report.sent == cfg.http + cfg.batch + cfg.poison
    assert report.line().endswith(f"faults injected {report.faults_injected}")


def test_the_injector_answers_in_the_services_own_error_shapes(stack: LocalStack) -> None:
    """Faults are the services' own answers, so the product meets them through its real error handling.

    Asked with clients that do not retry (one attempt): each answer seen is the injector's own, and no call
    sleeps through the SDK's retry backoff (with the product's three attempts the 90 calls slept ~40 s)."""
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    injector = FaultInjector(FaultPlan(s3=1.0, dynamodb=1.0, sqs_send=1.0, lambda_timeout=0.0))
    stack.moto.inject(injector)
    injector.enabled = True
    s = stack.require_settings()
    queue = stack.dead_letter_queue_url
    once = Config(retries={"mode": "standard", "max_attempts": 1})
    ddb, s3, sqs = (boto3.session.Session().client(name, region_name=s.region, endpoint_url=stack.moto.endpoint_url,
                                                   config=once) for name in ("dynamodb", "s3", "sqs"))  # fmt: skip
    seen: dict[str, set[str]] = {}
    try:
        for _ in range(30):
            for service, call in (
                ("dynamodb", lambda: ddb.describe_table(TableName=s.item_catalogue_table)),
                ("s3", lambda: s3.head_bucket(Bucket=s.analytics_bucket)),
                ("sqs", lambda: sqs.send_message(QueueUrl=queue, MessageBody="{}", MessageGroupId="p")),
            ):
                try:
                    call()
                    seen.setdefault(service, set()).add("answered")
                except botocore.exceptions.ClientError as exc:
                    seen.setdefault(service, set()).add(exc.response["Error"]["Code"])
                except (botocore.exceptions.ConnectionClosedError, botocore.exceptions.EndpointConnectionError):
                    seen.setdefault(service, set()).add("dropped")
    finally:
        injector.enabled = False
        stack.moto.inject(None)
    # one attempt each: every call is faulted (throttled, a 5xx, or its connection reset before or after it took
    # effect), none answered
    assert all("answered" not in outcomes for outcomes in seen.values()) and injector.total >= 90, seen
    assert {"ThrottlingException", "InternalServerError"} & seen["dynamodb"], seen
    assert seen["s3"] - {"answered"}, seen
    assert seen["sqs"] - {"answered"}, seen
    assert injector.total > 0
    # spared clients (the soak's own upload and audit) and a switched-off injector are never faulted
    stack.client("dynamodb").describe_table(TableName=s.item_catalogue_table)


def test_poison_records_are_what_they_claim() -> None:
    template = '{"transactionId": "t", "item_purchased": {"item_name": "x"}, "a": 1}'
    kinds = {p.kind: p for p in poison_records(template, 8, seed=1)}
    assert set(kinds) == {"oversize", "deep", "not_utf8", "escapes"}
    assert len(kinds["oversize"].line) > 8192
    assert kinds["deep"].line.count(b"[") >= 2000
    with pytest.raises(UnicodeDecodeError):
        kinds["not_utf8"].line.decode()
    assert b"\\\\" in kinds["escapes"].line and kinds["escapes"].stored
