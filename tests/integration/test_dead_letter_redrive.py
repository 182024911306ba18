"""The dead-letter queue's redrive, parking and archive (issue 18, item 5) on the real local stack.

Redrive learns each outcome without DescribeExecution (AWS has none for the Express transaction workflow):
from the execution status item the workflow writes (COMPLETED by this execution) or from the new dead
letter that names this execution. Every letter carries its redrive attempts; after the set number of
failed redrives it is parked in the raw bucket; letters older than the set age are archived there.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from lambdas.archive_dead_letters.handler import archive_old_letters
from lambdas.common.dead_letters import ARCHIVE_PREFIX, PARKED_PREFIX, dead_letter_message, kept_letter_key, put_once
from orchestration.cli import dlq, output
from orchestration.cli import main as cli
from orchestration.runtime import manifest, sfn
from orchestration.runtime.ingest import now_iso
from orchestration.runtime.stack import LocalStack
from orchestration.settings import Settings
from tests.helpers import command_output, empty_queue, queue_depth, seed_tx, unique_id
from tests.integration.test_transaction_workflow import (
    assert_stored_once,
    compliance_row,
    dead_letters,
    send_and_wait,
    status_of,
)

pytestmark = pytest.mark.integration

DAY = 86400.0


def not_in_catalogue(stack: LocalStack) -> tuple[dict[str, Any], dict[str, Any]]:
    """A transaction whose item is not in the catalogue (yet), and the catalogue item that would make it valid."""
    s = stack.require_settings()
    tx = seed_tx(transactionId=unique_id("redrive"))
    template = stack.client("dynamodb").get_item(
        TableName=s.item_catalogue_table, Key={"item_id": {"S": tx["item_purchased"]["item_id"]}}
    )["Item"]
    item_id = f"mtx_redrive_{uuid.uuid4().hex[:12]}"
    tx["item_purchased"] = {**tx["item_purchased"], "item_id": item_id}
    return tx, {**template, "item_id": {"S": item_id}}


def mine(stack: LocalStack, tx: dict[str, Any]) -> list[dlq.DeadLetter]:
    tx_id = tx["transactionId"]
    return [d for d in dead_letters(stack) if (d.body.get("transaction") or {}).get("transactionId") == tx_id]


def redrive(stack: LocalStack, settings: Settings | None = None, **kwargs: Any) -> dlq.RedriveReport:
    return dlq.redrive(
        stack.client, stack.dead_letter_queue_url, stack.state_machine_arn("transaction"), timeout=120,
        settings=settings or stack.require_settings(), **kwargs,
    )  # fmt: skip


def test_redrive_of_a_letter_that_is_stored_now_deletes_it(clean_queues: LocalStack) -> None:
    stack = clean_queues
    tx, item = not_in_catalogue(stack)
    assert send_and_wait(stack, tx)["status"] == "FAILED"
    [letter] = mine(stack, tx)
    assert (letter.error, letter.attempts) == ("ItemNotFound", 0)
    old = status_of(stack, tx["transactionId"])
    assert old is not None and old["status"]["S"] == "FAILED"

    stack.client("dynamodb").put_item(TableName=stack.require_settings().item_catalogue_table, Item=item)
    report = redrive(stack)
    assert (report.taken, report.stored, report.failed_again, report.kept) == (1, 1, 0, 0)
    assert_stored_once(stack, tx)
    assert dead_letters(stack) == []
    # the new execution's own outcome, not the old FAILED one: the status names another execution now
    assert status_of(stack, tx["transactionId"])["execution_id"]["S"] != old["execution_id"]["S"]  # type: ignore[index]


def test_redrive_of_a_letter_that_fails_again_keeps_one_letter_with_one_attempt_more(
    clean_queues: LocalStack,
) -> None:
    stack = clean_queues
    tx, _ = not_in_catalogue(stack)
    send_and_wait(stack, tx)
    [first] = mine(stack, tx)
    report = redrive(stack)
    assert (report.taken, report.stored, report.failed_again, report.kept, report.parked) == (1, 0, 1, 0, 0)
    [again] = mine(stack, tx)
    assert again.message_id != first.message_id and again.error == "ItemNotFound"
    assert (first.attempts, again.attempts) == (0, 1)
    assert again.execution_id != first.execution_id
    assert compliance_row(stack, tx["transactionId"]) is None
    lines = output.plain(dlq.listing(dead_letters(stack))).splitlines()
    assert next(line for line in lines if line.startswith("transaction id")).split()[-2:] == ["tries", "reason"]
    row = next(line for line in lines if line.startswith(tx["transactionId"]))
    assert row.split()[5] == "1"  # the attempts column


def test_a_letter_that_failed_validation_counts_its_attempts_too(clean_queues: LocalStack) -> None:
    """The validation-failure path (no trusted id, no status item): the new letter alone tells the outcome."""
    stack = clean_queues
    tx = seed_tx(transactionId=unique_id("invalid"), client_ip="not-an-address")
    send_and_wait(stack, tx)
    [first] = mine(stack, tx)
    assert (first.failed_state, first.attempts) == ("ValidateTransaction", 0)
    report = redrive(stack)
    assert (report.failed_again, report.kept) == (1, 0)
    [again] = mine(stack, tx)
    assert (again.failed_state, again.attempts, again.error) == ("ValidateTransaction", 1, first.error)


def test_after_the_set_number_of_failed_redrives_a_letter_is_parked(clean_queues: LocalStack) -> None:
    stack = clean_queues
    s = stack.require_settings()
    assert s.dlq_max_redrives == 3  # the default
    tx, _ = not_in_catalogue(stack)
    send_and_wait(stack, tx)
    for attempt in (1, 2):
        report = redrive(stack)
        assert (report.failed_again, report.parked) == (1, 0), attempt
        assert [d.attempts for d in mine(stack, tx)] == [attempt]
    report = redrive(stack)  # the third failed redrive: its new letter is parked at once
    assert (report.failed_again, report.parked) == (1, 1)
    assert mine(stack, tx) == []
    parked = [d for d in dlq.parked_letters(stack.client, s) if d.transaction_id == tx["transactionId"]]
    assert len(parked) == 1 and parked[0].attempts == 3 and parked[0].error == "ItemNotFound"
    key = parked[0].receipt_handle  # the object's key
    assert key.startswith(PARKED_PREFIX) and key.endswith(f"/{parked[0].message_id}.json")
    head = stack.client("s3").head_object(Bucket=s.raw_bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms" and head.get("SSEKMSKeyId")
    # no longer redriven: a later redrive takes nothing of it
    assert redrive(stack).taken == 0
    text = output.plain(dlq.listing(dead_letters(stack), parked=parked))
    assert "1 parked: {'ItemNotFound': 1}" in text
    assert tx["client_ip"] not in text and tx["payment_details"]["card_last4"] not in text


def test_a_letter_already_at_the_limit_is_parked_not_redriven(clean_queues: LocalStack) -> None:
    """A smaller limit (the setting) applies to letters already in the queue: parked, no execution started."""
    stack = clean_queues
    tx, _ = not_in_catalogue(stack)
    send_and_wait(stack, tx)
    send_and_wait(stack, seed_tx(transactionId=unique_id("other"), client_ip="not-an-address"))
    redrive(stack)  # both fail again: one attempt each
    one = dataclasses.replace(stack.require_settings(), dlq_max_redrives=1)
    report = redrive(stack, settings=one)
    assert (report.taken, report.parked, report.failed_again, report.stored) == (2, 2, 0, 0)
    assert dead_letters(stack) == []


def test_redrive_keeps_a_message_whose_outcome_it_cannot_see(clean_queues: LocalStack) -> None:
    """A redriven execution that neither completes the status item nor dead-letters anew (a workflow that
    always fails with another error) leaves the message in the queue, visible, when the timeout ends."""
    stack = clean_queues
    tx, _ = not_in_catalogue(stack)
    send_and_wait(stack, tx)
    [letter] = mine(stack, tx)
    broken = stack.client("stepfunctions").create_state_machine(
        name=f"always-fails-{uuid.uuid4().hex[:8]}",
        definition=json.dumps({"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Boom"}}}),
        roleArn="arn:aws:iam::123456789012:role/test",
    )["stateMachineArn"]
    report = dlq.redrive(
        stack.client, stack.dead_letter_queue_url, broken, timeout=3, settings=stack.require_settings()
    )
    assert (report.taken, report.stored, report.failed_again, report.kept) == (1, 0, 0, 1)
    assert [d.message_id for d in mine(stack, tx)] == [letter.message_id]


def _letter(stack: LocalStack, tag: str) -> dict[str, Any]:
    tx = seed_tx(transactionId=unique_id(tag), client_ip="not-an-address")
    send_and_wait(stack, tx)
    return tx


def _versions(stack: LocalStack, key: str) -> int:
    listed = stack.client("s3").list_object_versions(Bucket=stack.require_settings().raw_bucket, Prefix=key)
    return len(listed.get("Versions", []))


def test_letters_older_than_the_age_are_archived_once_and_younger_ones_stay(clean_queues: LocalStack) -> None:
    stack = clean_queues
    s = stack.require_settings()
    sqs, s3 = stack.client("sqs"), stack.client("s3")
    old_tx = _letter(stack, "old")
    time.sleep(0.01)
    between = time.time()  # "now" is 10 days after this instant: the first letter is older, the second not
    time.sleep(0.01)
    young_tx = _letter(stack, "young")
    [old] = mine(stack, old_tx)
    [young] = mine(stack, young_tx)
    age = s.dlq_archive_after_days * DAY
    assert s.dlq_archive_after_days == 10.0

    def run() -> Any:
        return archive_old_letters(sqs, s3, stack.dead_letter_queue_url, s.raw_bucket, age, now=between + age)

    report = run()
    assert (report.archived, report.already_archived) == (1, 0) and report.kept >= 1
    assert mine(stack, old_tx) == [] and [d.message_id for d in mine(stack, young_tx)] == [young.message_id]
    key = kept_letter_key(ARCHIVE_PREFIX, old.message_id, old.sent_at)
    assert key == f"{ARCHIVE_PREFIX}{time.strftime('%Y/%m/%d', time.gmtime(old.sent_at))}/{old.message_id}.json"
    got = s3.get_object(Bucket=s.raw_bucket, Key=key)
    assert got["ServerSideEncryption"] == "aws:kms" and got.get("SSEKMSKeyId")
    document = json.loads(got["Body"].read())
    assert document["message_id"] == old.message_id and document["body"] == old.body
    assert document["sent_at"] == old.sent_at and "archived_at" in document

    # twice: nothing new is written (and the younger letter still stays)
    again = run()
    assert (again.archived, again.already_archived) == (0, 0)
    assert _versions(stack, key) == 1
    assert [d.message_id for d in mine(stack, young_tx)] == [young.message_id]

    # a run that wrote the object but stopped before the delete: the next one only deletes
    young_key = kept_letter_key(ARCHIVE_PREFIX, young.message_id, young.sent_at)
    assert put_once(s3, s.raw_bucket, young_key, b'{"written": "by an interrupted run"}')
    late = archive_old_letters(sqs, s3, stack.dead_letter_queue_url, s.raw_bucket, age, now=time.time() + age + 1)
    assert late.already_archived >= 1 and mine(stack, young_tx) == []
    assert _versions(stack, young_key) == 1


def test_the_scheduled_archive_keeps_what_is_younger_than_ten_days(clean_queues: LocalStack) -> None:
    """The schedule rule (named as Terraform names it) targets the function; its handler, invoked as the rule
    invokes it with the settings it is deployed with, keeps a letter younger than ten days."""
    stack = clean_queues
    s = stack.require_settings()
    tx = _letter(stack, "fresh")
    events = stack.client("events")
    rule = events.describe_rule(Name=manifest.schedule_rule_name(s, "archive_dead_letters"))
    assert rule["Name"] == f"{s.name_prefix}-archive-dead-letters"
    assert rule["ScheduleExpression"] == "rate(1 day)" and rule["State"] == "ENABLED"
    [target] = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == s.function_arn("archive_dead_letters")
    answer = sfn.REGISTRY.invoke(target["Arn"], {"source": "aws.events", "detail-type": "Scheduled Event"})
    assert "FunctionError" not in answer, answer
    assert answer["Payload"]["archived"] == 0 and answer["Payload"]["kept"] >= 1
    assert len(mine(stack, tx)) == 1


def test_mtx_dlq_archive_then_redrive_from_the_archive(
    clean_queues: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = clean_queues
    s = stack.require_settings()
    tx, item = not_in_catalogue(stack)
    send_and_wait(stack, tx)
    [letter] = mine(stack, tx)
    home = ["--home", str(stack.home)]
    assert cli.main([*home, "dlq", "archive", "--older-than-days", "0", "--json"]) == 0
    archived = json.loads(command_output(capsys.readouterr().out))
    assert archived["archived"] >= 1 and mine(stack, tx) == []
    key = kept_letter_key(ARCHIVE_PREFIX, letter.message_id, letter.sent_at)
    assert _versions(stack, key) == 1

    stack.client("dynamodb").put_item(TableName=s.item_catalogue_table, Item=item)
    day = time.strftime("%Y-%m-%d", time.gmtime(letter.sent_at))
    code = cli.main([*home, "dlq", "redrive", "--from-archive", day, "--timeout", "120", "--json"])
    report = json.loads(command_output(capsys.readouterr().out))
    assert report["stored"] >= 1 and report["kept"] == 0, report
    # the day's archive may hold other tests' letters that fail again: then, and only then, exit 4 (partial)
    left_behind = report["failed_again"] + report["not_redrivable"] + report["parked"]
    assert code == (4 if left_behind else 0), report
    assert_stored_once(stack, tx)
    listed = stack.client("s3").list_objects_v2(Bucket=s.raw_bucket, Prefix=key).get("KeyCount", 0)
    assert listed == 0, "the archived letter is settled: its object goes"
    assert mine(stack, tx) == []


def test_a_clean_queue_has_no_letter_left_in_flight_by_an_earlier_test(stack: LocalStack) -> None:
    """The clean_queues fixture's emptying (tests/helpers.py empty_queue): letters an earlier test received and
    never handed back are invisible to a drain, and came back in the middle of the next test (four letters of
    the PII canary's peek, in a full run: a dead-letter count off by four). They are gone, not merely hidden."""
    sqs = stack.client("sqs")
    url = stack.dead_letter_queue_url
    empty_queue(sqs, url)
    for n in range(3):
        group = unique_id("letter")
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}), MessageGroupId=group,
                         MessageDeduplicationId=group)  # fmt: skip
    in_flight = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=600)["Messages"]
    assert len(in_flight) == 2 and queue_depth(sqs, url) == 3
    empty_queue(sqs, url)
    assert queue_depth(sqs, url) == 0
    for m in in_flight:  # handed back by their holder now, they do not reappear: the handle is dead
        with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    assert queue_depth(sqs, url) == 0


def test_the_readers_of_the_queue_do_not_stop_at_a_short_polls_false_empty_answer(clean_queues: LocalStack) -> None:
    """SQS's short poll (WaitTimeSeconds 0) asks a sample of its servers and may answer nothing while letters
    wait; only a long poll's empty answer says the queue is empty. Played here: every short poll of the
    dead-letter queue is answered with nothing, as SQS may. The listing (which the redrive reads the same way)
    and the scheduled archive still find every letter."""
    stack = clean_queues
    sqs = stack.client("sqs")
    url = stack.dead_letter_queue_url
    marker = unique_id("false-empty")
    s = stack.require_settings()
    for n in range(3):
        group = f"{marker}-{n}"
        body = {"transaction_id": group, "transaction": {"transactionId": group}, "error": {"Error": "Test"}, "n": n}
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body), MessageGroupId=group, MessageDeduplicationId=group)
    short_polls = []

    def answer(params: dict[str, Any], **_: Any) -> Any:
        request = json.loads(params["body"])
        if request.get("QueueUrl") == url and not request.get("WaitTimeSeconds"):
            short_polls.append(1)
            return AWSResponse(url, 200, {}, None), {"ResponseMetadata": {"HTTPStatusCode": 200}}
        return None

    events = sqs.meta.events
    events.register("before-call.sqs.ReceiveMessage", answer, unique_id="false-empty-answer")
    try:
        assert len(dlq.list_dead_letters(stack.client, url)) == 3
        report = archive_old_letters(sqs, stack.client("s3"), url, s.raw_bucket, 60.0, now=time.time() + 3600)
        assert report.archived == 3, report
    finally:
        events.unregister("before-call.sqs.ReceiveMessage", unique_id="false-empty-answer")
        # the archived letters are this test's: a later replay of today's archive must not meet them
        for letter in dlq.stored_letters(stack.client, s, ARCHIVE_PREFIX):
            if str(letter.transaction_id).startswith(marker):
                stack.client("s3").delete_object(Bucket=s.raw_bucket, Key=letter.receipt_handle)
    assert short_polls == []  # so no reader of the queue asked a short poll


def test_a_listing_hands_back_the_letters_a_batch_answer_says_it_could_not(clean_queues: LocalStack) -> None:
    """`mtx dlq list` reads the letters (hidden 300 s) and hands them back 10 a call; so does the scheduled
    archive with the letters younger than its age (hidden 360 s). When the batch answer lists entries as failed
    (SQS answers 200 with a Failed list: played here for every entry), each is tried again alone: a letter left
    hidden would be missing from a redrive run in the next minutes."""
    stack = clean_queues
    sqs = stack.client("sqs")
    url = stack.dead_letter_queue_url
    for n in range(12):  # two batch calls
        group = unique_id("letter")
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}), MessageGroupId=group,
                         MessageDeduplicationId=group)  # fmt: skip
    refused = []

    def refuse(params: dict[str, Any], **_: Any) -> Any:
        entries = json.loads(params["body"])["Entries"]
        refused.extend(e["Id"] for e in entries)
        failed = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in entries]
        return AWSResponse(url, 200, {}, None), {"Successful": [], "Failed": failed}

    events = sqs.meta.events
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]

    def visible_and_hidden() -> tuple[int, int]:
        depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return int(depth[names[0]]), int(depth[names[1]])

    events.register("before-call.sqs.ChangeMessageVisibilityBatch", refuse, unique_id="refuse-batch")
    try:
        assert len(dlq.list_dead_letters(stack.client, url)) == 12
        assert len(refused) == 12 and visible_and_hidden() == (12, 0)
        # the scheduled archive hands back the letters younger than its age the same way
        s = stack.require_settings()
        report = archive_old_letters(sqs, stack.client("s3"), url, s.raw_bucket, older_than_seconds=86400.0)
        assert report.kept == 12 and len(refused) == 24
    finally:
        events.unregister("before-call.sqs.ChangeMessageVisibilityBatch", unique_id="refuse-batch")
    assert visible_and_hidden() == (12, 0)


def test_a_redrive_reads_outcomes_and_settles_letters_in_batches(clean_queues: LocalStack) -> None:
    """A redrive of many letters makes its per-letter calls in batches: the outcomes of the executions it waits
    for are read 100 status items a call (consistent BatchGetItem, never one GetItem each), the settled letters
    deleted 10 a call, the not-redrivable one handed back in a batch. Proved by counting the calls of the
    clients the redrive uses, and by the outcome: every redriven letter stored once and gone, the other still
    in the queue."""
    stack = clean_queues
    s = stack.require_settings()
    sqs, ddb = stack.client("sqs"), stack.client("dynamodb")
    url = stack.dead_letter_queue_url
    txs = [seed_tx(transactionId=unique_id(f"batched-{n}")) for n in range(12)]
    for tx in txs:  # letters of transactions that are valid now: each redrive stores its transaction
        body = dlq_message(tx)
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body), MessageGroupId=tx["transactionId"],
                         MessageDeduplicationId=tx["transactionId"])  # fmt: skip
    odd = unique_id("not-a-record")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"transaction": "not a record"}), MessageGroupId=odd,
                     MessageDeduplicationId=odd)  # fmt: skip
    calls: Counter[str] = Counter()
    status_keys: list[int] = []

    def count(model: Any, params: dict[str, Any], **_: Any) -> None:
        # the stack's handlers run in this process with the same clients: only the calls on the queue and the
        # status table are the redrive's
        if params.get("QueueUrl") == url:
            calls[model.name] += 1
        elif params.get("TableName") == s.execution_status_table:
            calls[f"{model.name} of a status"] += 1
        elif s.execution_status_table in params.get("RequestItems", {}):
            status_keys.append(len(params["RequestItems"][s.execution_status_table]["Keys"]))

    for client in (sqs, ddb):
        client.meta.events.register("before-parameter-build", count, unique_id="count-redrive-calls")
    try:
        report = redrive(stack, poll=0.2)
    finally:
        for client in (sqs, ddb):
            client.meta.events.unregister("before-parameter-build", count, unique_id="count-redrive-calls")
    assert (report.taken, report.stored, report.not_redrivable, report.kept) == (13, 12, 1, 0)
    for tx in txs:
        assert_stored_once(stack, tx)
    assert [d.body["transaction"] for d in dead_letters(stack)] == ["not a record"]
    assert calls["GetItem of a status"] == 0 and status_keys and status_keys[0] == 12
    assert (calls["DeleteMessage"], calls["DeleteMessageBatch"]) == (0, 2)
    assert calls["ChangeMessageVisibility"] == 0 and calls["ChangeMessageVisibilityBatch"] >= 1


def dlq_message(tx: dict[str, Any]) -> dict[str, Any]:
    """A dead letter of ``tx`` as the workflow writes one (a first failure, no redrive yet)."""
    return dead_letter_message(tx, tx["transactionId"], "ItemNotFound", "item_purchased.item_id: not in the catalogue",
                               now_iso(), "CheckCatalogue")  # fmt: skip
