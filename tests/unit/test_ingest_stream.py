"""The streaming entrance without servers: the handler's reading of a Kinesis event and its batch failures
(moto in-process, the database a closed port), and the local event source mapping's retries, bisection
and on-failure destination (moto's Kinesis, a scripted function in a registry of its own)."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdas.common import aws
from lambdas.common.secrets import clear_secret_cache
from lambdas.ingest_stream import handler as stream
from orchestration.cli.stream_replay import partition_key, replay
from orchestration.runtime.moto_dynamodb import patch_moto_dynamodb_writes
from orchestration.runtime.moto_server import patch_moto_sqs_send
from orchestration.runtime.sfn import LambdaRegistry
from orchestration.runtime.stream_poller import StreamMapping, StreamPoller, patch_moto_kinesis_mappings
from orchestration.sample_data.catalogue import CATALOGUE, to_dynamodb_item
from orchestration.sample_data.fx import fx_document
from orchestration.sample_data.generate import generate
from orchestration.settings import Settings, reset_settings_cache

pytestmark = pytest.mark.unit

SHARD = "shardId-000000000007"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def local_aws(fake_aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto in-process with what the handler reads and writes; the compliance store unreachable."""
    monkeypatch.setenv("MTX_REGION", "us-east-1")
    monkeypatch.setenv("MTX_NAME_PREFIX", "mtx-unit")
    patch_moto_sqs_send()
    patch_moto_dynamodb_writes()  # the players' claims: BatchExecuteStatement INSERTs as DynamoDB runs them
    reset_settings_cache()
    aws.reset_clients()
    clear_secret_cache()
    stream.forget_catalogue()
    s = Settings(name_prefix="mtx-unit")
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName=s.item_catalogue_table, KeySchema=[{"AttributeName": "item_id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "item_id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")  # fmt: skip
        for item in CATALOGUE:
            ddb.put_item(TableName=s.item_catalogue_table, Item=to_dynamodb_item(item))
        ddb.create_table(TableName=s.players_table, KeySchema=[{"AttributeName": "player_id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "player_id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")  # fmt: skip
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (s.raw_bucket, s.analytics_bucket):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=s.fx_rates_bucket, Key=s.fx_rates_key, Body=json.dumps(fx_document()).encode())
        sqs = boto3.client("sqs", region_name="us-east-1")
        fifo: Any = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
        dlq = sqs.create_queue(QueueName=s.dead_letter_queue_name, Attributes=fifo)["QueueUrl"]
        secret = {"host": "127.0.0.1", "port": _closed_port(), "username": "w", "password": "p", "dbname": "c"}
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name=s.compliance_writer_secret_id, SecretString=json.dumps(secret)
        )
        yield {"settings": s, "s3": s3, "sqs": sqs, "dlq": dlq}
    stream.forget_catalogue()
    clear_secret_cache()
    aws.reset_clients()
    reset_settings_cache()


def event(lines: Sequence[str | bytes], first_sequence: int = 100, arrival: float | None = None) -> dict[str, Any]:
    """A Kinesis event as Lambda delivers it (the records arrived now, unless said)."""
    arrival = time.time() if arrival is None else arrival
    records = []
    for i, line in enumerate(lines):
        data = line if isinstance(line, bytes) else line.encode()
        seq = str(first_sequence + i)
        records.append({
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": f"p{i}", "sequenceNumber": seq,
                        "data": base64.b64encode(data).decode(), "approximateArrivalTimestamp": arrival + i},
            "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"{SHARD}:{seq}",
            "eventName": "aws:kinesis:record", "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/mtx-unit-transaction-stream",
        })  # fmt: skip
    return {"Records": records}


def letters(sqs: Any, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages", []):
        found.extend(json.loads(m["Body"]) for m in batch)
    return found


def test_a_batch_is_read_as_lambda_hands_it_over() -> None:
    batch = stream.StreamBatch.of(
        event(['{"a": 1}\n', b"\xff\xfe not utf-8", ""], first_sequence=42, arrival=1_764_000_000.5)
    )
    assert batch.shard_id == SHARD
    assert batch.sequence_numbers == ["42", "43", "44"]
    assert batch.ref == f"stream:{SHARD}:42"
    assert batch.records == ['{"a": 1}', b"\xff\xfe not utf-8", ""]  # a line end dropped, bytes kept as bytes
    assert batch.arrived_at.timestamp() == 1_764_000_000.5  # the first record's arrival: the same on a retry
    assert stream.StreamBatch.of({"Records": []}).records == []
    assert stream.handler.__wrapped__({"Records": []}, None) == {"batchItemFailures": []}  # type: ignore[attr-defined]


def test_the_database_down_reports_every_record_and_settles_none(local_aws: dict[str, Any]) -> None:
    lines = [r.line for r in generate(30, seed=5, invalid_share=0.3, duplicate_share=0.0)]
    got = stream.ingest(stream.StreamBatch.of(event(lines)))
    assert got.error == "DatabaseUnavailable"
    assert got.failures == [str(100 + i) for i in range(30)]  # the mapping retries from the first record
    assert got.response() == {"batchItemFailures": [{"itemIdentifier": str(100 + i)} for i in range(30)]}
    # nothing settled: no letter (the retry sends them), no analytics object
    assert letters(local_aws["sqs"], local_aws["dlq"]) == []
    assert local_aws["s3"].list_objects_v2(Bucket=local_aws["settings"].analytics_bucket).get("KeyCount", 0) == 0


def test_a_batch_with_nothing_to_store_is_settled_without_the_database(local_aws: dict[str, Any]) -> None:
    """Invalid records only: each dead-lettered with its reason, none reported (the database is not needed)."""
    texts = [r.line for r in generate(200, seed=9, invalid_share=1.0, duplicate_share=0.0) if r.kind != "valid"][:20]
    lines: list[str | bytes] = [*texts, b"\xff not text"]
    got = stream.ingest(stream.StreamBatch.of(event(lines)))
    assert (got.failures, got.error, got.stored) == ([], None, 0)
    assert got.dead_lettered == len(lines) == got.records
    sent = letters(local_aws["sqs"], local_aws["dlq"])
    assert len(sent) == len(lines)
    assert {m["failed_state"] for m in sent} == {"IngestStream"}
    assert all(json.loads(m["error"]["Cause"])["errorMessage"] for m in sent)  # a reason each
    # the same batch again (a retry): the same letters, kept once by the FIFO queue's deduplication
    assert stream.ingest(stream.StreamBatch.of(event(lines))).dead_lettered == len(lines)
    assert letters(local_aws["sqs"], local_aws["dlq"]) == []


# --------------------------------------------------------------------------- the local event source mapping
class Scripted:
    """A function that answers what the test says, batch by batch, and remembers what it was given."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.batches: list[list[str]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        data = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
        self.batches.append(data)
        answer = self.answers.pop(0) if self.answers else "ok"
        if answer == "error":
            raise RuntimeError("scripted failure")
        if isinstance(answer, int):  # report the record at this index of the batch as failed
            return {"batchItemFailures": [{"itemIdentifier": event["Records"][answer]["kinesis"]["sequenceNumber"]}]}
        return {"batchItemFailures": []}


@pytest.fixture
def one_shard(local_aws: dict[str, Any]) -> dict[str, Any]:
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    kinesis.create_stream(StreamName="s", ShardCount=1)
    local_aws["sqs"].create_queue(QueueName="s-failures")
    return {**local_aws, "kinesis": kinesis}


def poller(fn: Scripted, **mapping: Any) -> StreamPoller:
    registry = LambdaRegistry()
    registry.register("f", fn)
    settings = {"batch_size": 4, "window_seconds": 0.0, "max_retry_attempts": 2, **mapping}
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    return StreamPoller(aws.client, "s", arn, "s-failures", StreamMapping(**settings), registry, backoff_seconds=0.0)


def run(p: StreamPoller, rounds: int = 50) -> None:
    for _ in range(rounds):
        p.tick()


def put(kinesis: Any, values: list[str]) -> None:
    kinesis.put_records(StreamName="s", Records=[{"Data": v.encode(), "PartitionKey": "k"} for v in values])


def test_partial_failures_are_delivered_again_from_the_first_failed_record(one_shard: dict[str, Any]) -> None:
    put(one_shard["kinesis"], [f"r{i}" for i in range(8)])
    fn = Scripted([2])  # the first batch reports its third record
    p = poller(fn)
    run(p)
    assert fn.batches == [["r0", "r1", "r2", "r3"], ["r2", "r3"], ["r4", "r5", "r6", "r7"]]
    assert (p.partial_failures, p.given_up) == (1, [])


def test_a_function_error_bisects_and_a_poison_batch_goes_to_the_on_failure_queue(one_shard: dict[str, Any]) -> None:
    put(one_shard["kinesis"], [f"r{i}" for i in range(4)])
    fn = Scripted(["error", "ok", "error", "ok", "error", "error", "error"])  # r3 fails whatever its batch
    p = poller(fn)
    run(p)
    # [r0..r3] fails -> [r0 r1] ok -> [r2 r3] fails -> [r2] ok -> [r3] fails, and on its 2 retries -> given up
    assert fn.batches == [["r0", "r1", "r2", "r3"], ["r0", "r1"], ["r2", "r3"], ["r2"], ["r3"], ["r3"], ["r3"]]
    [gone] = p.given_up
    info = gone["KinesisBatchInfo"]
    assert (info["batchSize"], gone["requestContext"]["condition"]) == (1, "RetryAttemptsExhausted")
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    sqs = one_shard["sqs"]
    url = sqs.get_queue_url(QueueName="s-failures")["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=url).get("Messages", [])
    assert json.loads(message["Body"])["KinesisBatchInfo"] == info
    assert "r3" not in message["Body"]  # where the records are, not the records


def test_retries_stop_after_the_attempts_and_the_shard_moves_on(one_shard: dict[str, Any]) -> None:
    put(one_shard["kinesis"], ["a", "b"])
    fn = Scripted([0, 0, 0])
    p = poller(fn, batch_size=2, max_retry_attempts=2)
    run(p)
    assert fn.batches == [["a", "b"]] * 3  # the first try and two retries
    assert len(p.given_up) == 1 and p.idle()
    put(one_shard["kinesis"], ["c"])
    run(p)
    assert fn.batches[-1] == ["c"]


def test_an_idle_stream_is_not_read_until_a_record_is_put(one_shard: dict[str, Any]) -> None:
    """With the local moto's count of records put, the poller reads the shards only when the count moved since
    it last read every shard to its end (and every ``idle_read_seconds`` anyway); a record put is still
    delivered, on the next round."""
    from orchestration.runtime.moto_kinesis import patch_moto_kinesis_put_counts, put_count

    patch_moto_kinesis_put_counts()
    kinesis = boto3.client("kinesis", region_name="us-east-1")
    reads: list[str] = []
    kinesis.meta.events.register("before-call.kinesis.GetRecords", lambda **_: reads.append("GetRecords"))
    registry = LambdaRegistry()
    fn = Scripted([])
    registry.register("f", fn)
    p = StreamPoller(lambda service: kinesis if service == "kinesis" else aws.client(service), "s",
                     "arn:aws:lambda:us-east-1:123456789012:function:f", "s-failures",
                     StreamMapping(batch_size=4, window_seconds=0.0), registry, backoff_seconds=0.0,
                     puts=put_count, idle_read_seconds=3600.0)  # fmt: skip
    put(kinesis, [f"r{i}" for i in range(5)])
    run(p, 5)
    assert fn.batches == [["r0", "r1", "r2", "r3"], ["r4"]]
    read_so_far = len(reads)
    run(p, 20)
    assert len(reads) == read_so_far and p.skipped_rounds >= 19  # idle: not one GetRecords
    put(kinesis, ["late"])
    run(p, 1)
    assert fn.batches[-1] == ["late"] and len(reads) > read_so_far
    run(p, 1)  # a round that reads the shard to its end again
    read_so_far = len(reads)
    run(p, 5)
    assert len(reads) == read_so_far
    p.idle_read_seconds = 0.0  # the safety read: the shards are read although the count did not move
    run(p, 1)
    assert len(reads) > read_so_far and len(fn.batches) == 3


# --------------------------------------------------------------------------- `mtx stream`: the producer side
class Kinesis:
    """PutRecords as AWS answers it when a shard is over its limit: some entries refused, the rest taken."""

    def __init__(self, refuse_first: int) -> None:
        self.refuse_first = refuse_first  # entries refused, in total, before every entry is taken
        self.calls: list[list[dict[str, Any]]] = []

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Records)
        answers = []
        for _ in Records:
            if self.refuse_first > 0:
                self.refuse_first -= 1
                answers.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"})
            else:
                answers.append({"SequenceNumber": "1", "ShardId": SHARD})
        return {"FailedRecordCount": sum("ErrorCode" in a for a in answers), "Records": answers}


def test_replay_paces_puts_of_500_and_sends_the_refused_entries_again() -> None:
    lines = [r.line.encode() + b"\n" for r in generate(1200, seed=3, invalid_share=0.0, duplicate_share=0.0)]
    lines.insert(10, b"\n")  # a blank line: skipped
    kinesis = Kinesis(refuse_first=7)
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    done = replay(kinesis, "s", lines, rate=1000.0, sleep=sleep, clock=lambda: now[0])
    assert (done.sent, done.failed_puts, done.retried) == (1200, 0, 7)
    sizes = [len(c) for c in kinesis.calls]
    assert sizes == [500, 7, 500, 200]  # the 7 refused entries again, on their own, before the next put
    assert kinesis.calls[1] == kinesis.calls[0][:7]
    first = json.loads(kinesis.calls[0][0]["Data"])
    assert kinesis.calls[0][0]["PartitionKey"] == first["transactionId"]
    assert now[0] >= 1.0  # 1,200 records at 1,000/s: the last put waits until 1 s


def test_replay_counts_what_is_refused_after_every_retry() -> None:
    kinesis = Kinesis(refuse_first=10**6)
    done = replay(kinesis, "s", [b"not json"] * 3, max_retries=2, sleep=lambda _: None)
    assert (done.sent, done.failed_puts, done.retried, done.calls) == (0, 3, 6, 3)
    assert kinesis.calls[0][0]["PartitionKey"] == partition_key(b"not json") != ""


def test_moto_does_not_run_the_mapped_function_itself(
    local_aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Terraform-provisioned stack holds modules/stream's mapping in moto; the runtime plays it, moto must not
    (it would run the function in Docker inside every PutRecords)."""
    import io
    import zipfile

    from moto.awslambda.models import LambdaFunction

    patch_moto_kinesis_mappings()
    ran: list[Any] = []
    monkeypatch.setattr(LambdaFunction, "invoke", lambda self, *a, **k: ran.append(a))
    kinesis, lam = boto3.client("kinesis", region_name="us-east-1"), boto3.client("lambda", region_name="us-east-1")
    kinesis.create_stream(StreamName="mapped", ShardCount=1)
    role = boto3.client("iam", region_name="us-east-1").create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("h.py", "def h(e, c):\n    return None\n")
    function = lam.create_function(FunctionName="f", Runtime="python3.12", Role=role["Role"]["Arn"], Handler="h.h",
                                   Code={"ZipFile": code.getvalue()})["FunctionArn"]  # fmt: skip
    arn = kinesis.describe_stream_summary(StreamName="mapped")["StreamDescriptionSummary"]["StreamARN"]
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, StartingPosition="TRIM_HORIZON")
    answer = kinesis.put_records(StreamName="mapped", Records=[{"Data": b"x", "PartitionKey": "k"}] * 3)
    assert answer["FailedRecordCount"] == 0
    assert ran == []


def test_the_local_mapping_takes_terraforms_defaults_or_the_batch_size_and_window_it_is_told() -> None:
    """``MTX_LOCAL_STREAM_BATCH_SIZE`` / ``MTX_LOCAL_STREAM_WINDOW_SECONDS`` play Terraform's ``batch_size`` and
    ``maximum_batching_window_in_seconds`` locally, within the same bounds; a bad value names the variable."""
    assert StreamMapping.from_env({}) == StreamMapping()
    told = StreamMapping.from_env({"MTX_LOCAL_STREAM_BATCH_SIZE": "5000", "MTX_LOCAL_STREAM_WINDOW_SECONDS": "5"})
    assert (told.batch_size, told.window_seconds) == (5000, 5)
    size, window = "MTX_LOCAL_STREAM_BATCH_SIZE", "MTX_LOCAL_STREAM_WINDOW_SECONDS"
    for name, value in ((size, "-3"), (size, "10001"), (size, "many"), (window, "301"), (window, "2.5")):
        with pytest.raises(ValueError, match=name) as refused:
            StreamMapping.from_env({name: value})
        assert value not in str(refused.value)
