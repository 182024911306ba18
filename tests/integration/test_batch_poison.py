"""Poison isolation in the batch path (issue 18, item 4), end to end: the real batch state machine, the real
PostgreSQL refusing real records, moto's S3/SQS/DynamoDB through the same boto3 code as in AWS.

Every record here passes the contract (it would be dead-lettered by the contract otherwise, which is tested
elsewhere), so a record the database refuses is one the contract did not foresee: a constraint added to the
compliance table that a crafted record violates (SQLSTATE 23514), a cast inside a constraint that a crafted
value breaks (22P02, whose server message quotes the value), and, for the other side of the line, a record
on which the server answers a serialization failure (40001, transient: retried, never bisected). The
constraints are added by the test as the table's owner (NOT VALID: rows already stored are not checked) and
dropped after it.

Chunks of 50,000 records are represented by chunks of 400 (SplitFile's CHUNK_RECORDS, read when it splits).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from lambdas.process_chunk import handler as process_chunk
from lambdas.split_file import handler as split_file
from orchestration import asl_policy
from orchestration.cli import dlq
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.generate import generate
from tests.integration.test_batch_ingest import analytics_ids, drop, stored_ids

pytestmark = pytest.mark.integration

CHUNK = 400
#: Quoted by the server's own message for the 22P02 record ('invalid input syntax for type integer: "..."'):
#: it must appear in no dead letter, alert or run record.
SECRET = "S3CRETVALUE"

CONSTRAINTS = {
    # a plain CHECK a crafted record violates: 23514 check_violation, named by its constraint
    "test_poison_refused": "check (user_id not like 'poison23-%')",
    # a cast the value breaks: 22P02 invalid_text_representation (a data exception, raised by the server)
    "test_poison_cast": "check (user_id not like 'poison22-%' or substr(user_id, 10)::int > 0)",
    # the server answers 40001 serialization_failure: transient, must be retried as DatabaseUnavailable
    "test_poison_transient": "check (compliance.test_poison_transient(user_id))",
}
TRANSIENT_FUNCTION = """
create or replace function compliance.test_poison_transient(user_id text) returns boolean
    language plpgsql immutable
as $$ begin
    if user_id like 'transient40-%' then
        raise exception 'could not serialize access' using errcode = '40001';
    end if;
    return true;
end $$
"""


@pytest.fixture
def poison_constraints(clean_queues: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    stack = clean_queues
    monkeypatch.setattr(split_file, "CHUNK_RECORDS", CHUNK)  # the stack runs SplitFile in this process
    with psycopg.connect(stack.dsn("compliance"), autocommit=True) as conn:  # the table's owner
        conn.execute(TRANSIENT_FUNCTION)
        for name, check in CONSTRAINTS.items():
            conn.execute(f"alter table compliance.transactions add constraint {name} {check} not valid")
        try:
            yield stack
        finally:
            for name in CONSTRAINTS:
                conn.execute(f"alter table compliance.transactions drop constraint if exists {name}")
            conn.execute("drop function if exists compliance.test_poison_transient(text)")


def _with_user(line: str, user_id: str) -> str:
    record = json.loads(line)
    record["user_id"] = user_id
    return json.dumps(record, ensure_ascii=False)


def _process_chunk_attempts(stack: LocalStack, run: dict[str, Any]) -> int:
    history = stack.client("stepfunctions").get_execution_history(executionArn=run["execution_id"], maxResults=1000)
    return sum(
        1
        for e in history["events"]
        if e["type"] == "TaskScheduled" and "process-chunk" in e["taskScheduledEventDetails"]["parameters"]
    )


def _quarantine(stack: LocalStack, run_id: str) -> dict[str, bytes]:
    s3, bucket = stack.client("s3"), stack.require_settings().raw_bucket
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"rejected/{run_id}/").get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def test_records_the_database_refuses_are_quarantined_alone_and_the_rest_stored_once(
    poison_constraints: LocalStack,
) -> None:
    stack = poison_constraints
    records = list(generate(1600, seed=1818, invalid_share=0.03, duplicate_share=0.01))
    kinds = Counter(r.kind for r in records)
    once = Counter(r.transaction_id for r in records)
    # three poison records, two in one chunk (their bisections meet) and one in another; none has a duplicate
    chosen = [i for i, r in enumerate(records) if r.kind == "valid" and once[r.transaction_id] == 1]
    poison_at = {chosen[450]: "poison23-a", chosen[470]: f"poison22-{SECRET}", chosen[1300]: "poison23-b"}
    lines = [_with_user(r.line, poison_at[i]) if i in poison_at else r.line for i, r in enumerate(records)]
    poison = {records[i].transaction_id: i + 1 for i in poison_at}  # id -> its record number in the file
    valid = {r.transaction_id for r in records if r.kind == "valid"}
    rejected = len(records) - kinds["valid"] - kinds["duplicate"]

    run = drop(stack, ("\n".join(lines) + "\n").encode(), "with-poison.ndjson")

    good = valid - set(poison)
    assert run["status"] == "COMPLETED", run
    assert (run["records"], run["stored"], run["duplicates"], run["dead_lettered"], run["quarantined"]) == (
        len(records), len(good), kinds["duplicate"], rejected + len(poison), len(poison))  # fmt: skip
    assert run["stored"] + run["duplicates"] + run["dead_lettered"] == run["records"]
    # the data errors were isolated inside each chunk's one invocation: no retry, no chunk dead-lettered
    assert _process_chunk_attempts(stack, run) == -(-len(records) // CHUNK) and run["failed"] == 0
    # every other record stored exactly once, in the compliance store and in the analytics copy
    got = stored_ids(stack, valid)
    assert sorted(got) == sorted(good)
    assert sorted(analytics_ids(stack, run["run_id"])) == sorted(good)

    letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    assert len(letters) == rejected + len(poison)
    by_id = Counter(d.transaction_id for d in letters if d.transaction_id)
    assert max(by_id.values()) == 1  # nothing dead-lettered twice
    refused = {d.transaction_id: d for d in letters if d.error == "DatabaseRejected"}
    assert set(refused) == set(poison)
    kept = _quarantine(stack, run["run_id"])
    assert len(kept) == len(poison)
    for transaction_id, in_file in poison.items():
        letter = refused[transaction_id]
        chunk, number = divmod(in_file - 1, CHUNK)
        assert f"record {number + 1} of chunk {chunk} (record {in_file} of the file)" in letter.reason
        pointer = letter.body["transaction"]
        assert (pointer["chunk"], pointer["record"], pointer["file_record"]) == (chunk, number + 1, in_file)
        key = process_chunk.quarantine_key(run["run_id"], chunk, number + 1)
        assert pointer["quarantined_at"].endswith(f"/{key}")
        assert kept[key] == lines[in_file - 1].encode()  # kept whole, as sent
        original = json.loads(records[in_file - 1].line)
        text = json.dumps(letter.body)
        for value in (SECRET, original["client_ip"], "poison23-", "poison22-"):
            assert value not in text  # the letter names the place and the rule, never a value
        if "poison22-" in lines[in_file - 1]:
            assert "InvalidTextRepresentation (SQLSTATE 22P02)" in letter.reason
        else:
            assert "CheckViolation (SQLSTATE 23514, constraint test_poison_refused)" in letter.reason
    assert SECRET not in json.dumps(run, default=str)


def test_a_transient_database_error_is_retried_whole_never_bisected(poison_constraints: LocalStack) -> None:
    """The server answers 40001 (serialization failure) for one record: that is not the record's fault, so the
    chunk is retried whole as DatabaseUnavailable with the policy's budget (no bisection, nothing quarantined);
    when the budget is spent the chunk is undone and dead-lettered with that reason, to be redriven."""
    stack = poison_constraints
    records = list(generate(60, seed=1819, invalid_share=0.0, duplicate_share=0.0))
    lines = [r.line for r in records]
    lines[17] = _with_user(lines[17], "transient40-x")
    run = drop(stack, ("\n".join(lines) + "\n").encode(), "with-a-transient-fault.ndjson")
    assert (run["status"], run["failed"], run["stored"], run["quarantined"]) == ("FAILED", 1, 0, 0)
    assert _process_chunk_attempts(stack, run) == 1 + asl_policy.DATABASE.max_attempts
    assert _quarantine(stack, run["run_id"]) == {}
    letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    assert Counter(d.error for d in letters) == {"DatabaseUnavailable": len(records)}
    assert stored_ids(stack, {r.transaction_id for r in records}) == []


def test_a_chunk_the_database_refuses_wholesale_fails_alone_with_each_record_dead_lettered(
    poison_constraints: LocalStack,
) -> None:
    """More refused records in a chunk than MAX_REFUSED_PER_CHUNK: the database (a schema, a constraint) is
    most likely wrong, not the records, so that chunk fails as DatabaseRejected and each of its records is
    dead-lettered whole (redrivable once fixed); the file's other chunk is stored."""
    stack = poison_constraints
    records = list(generate(2 * CHUNK, seed=1820, invalid_share=0.0, duplicate_share=0.0))
    bad = set(range(CHUNK, CHUNK + process_chunk.MAX_REFUSED_PER_CHUNK + 1))  # the second chunk
    lines = [_with_user(r.line, f"poison23-{i}") if i in bad else r.line for i, r in enumerate(records)]
    run = drop(stack, ("\n".join(lines) + "\n").encode(), "refused-wholesale.ndjson")
    assert (run["status"], run["failed"], run["stored"], run["dead_lettered"]) == ("FAILED", 1, CHUNK, CHUNK)
    first, second = {r.transaction_id for r in records[:CHUNK]}, {r.transaction_id for r in records[CHUNK:]}
    assert sorted(stored_ids(stack, first | second)) == sorted(first)
    assert sorted(analytics_ids(stack, run["run_id"])) == sorted(first)
    letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    assert Counter(d.error for d in letters) == {"DatabaseRejected": CHUNK}
    assert {d.transaction_id for d in letters} == second
    assert all("SQLSTATE 23514" in d.reason and "poison23-" not in d.reason for d in letters)


def test_no_single_record_fails_the_file_each_bad_one_is_dead_lettered_or_quarantined_alone(
    clean_queues: LocalStack,
) -> None:
    """A JSON array whose bad elements would each have failed or hung SplitFile (an element over 1 MiB, one
    nested past the decoder's recursion limit, a stray '}', bytes that are not UTF-8, a malformed one): the
    run completes, the good records are stored, each bad one is dead-lettered alone (the long one quarantined
    under rejected/, cut at 1 MiB), and the counts add up."""
    stack = clean_queues
    good = list(generate(30, seed=1821, invalid_share=0.0, duplicate_share=0.0))
    bad = [
        b'{"transactionId": "long-1", "padding": "' + b"x" * (split_file.MAX_LINE + (1 << 19)) + b'"}',
        b"[" * 3000 + b"]" * 3000,  # past the decoder's recursion limit, under 8 KiB
        b"}",
        b'{"transactionId": "\xff\xfe-not-utf8"}',
        b'{"transactionId": "malformed-1",,}',
    ]
    elements = [r.line.encode() for r in good[:10]] + bad + [r.line.encode() for r in good[10:]]
    run = drop(stack, b"[" + b",\n".join(elements) + b"]", "with-broken-elements.json")
    assert run["status"] == "COMPLETED", run
    counts = (run["records"], run["stored"], run["dead_lettered"], run["quarantined"], run["failed"])
    assert counts == (len(good) + len(bad), len(good), len(bad), 1, 0)
    ids = {r.transaction_id for r in good}
    assert sorted(stored_ids(stack, ids)) == sorted(ids)
    letters = dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
    # once, in a CI run: 9 letters for 5 bad records. Where each came from, should it happen again:
    whence = "\n".join(f"{d.failed_state} {d.error} {d.transaction_id} received {d.body.get('received_at')} sent "
                       f"{d.sent_at:.1f} {d.reason[:80]!r}" for d in letters)  # fmt: skip
    assert len(letters) == len(bad) and {d.error for d in letters} == {"InvalidTransaction"}, f"{run}\n{whence}"
    [kept] = _quarantine(stack, run["run_id"]).values()
    assert len(kept) == split_file.MAX_LINE and bad[0].startswith(kept)
