"""`mtx dlq list`: the operator's view of the dead-letter queue, oldest first, with age and receive count,
and never a value of the dead-lettered record (the queue holds the full transaction; the terminal must not)."""

from __future__ import annotations

import json

import pytest

from orchestration.cli import output
from orchestration.cli.dlq import DeadLetter, human_age, listing, listing_document

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0


def letter(tx_id: str | None, error: str, age: float, receives: int) -> DeadLetter:
    body = {
        "transaction_id": tx_id,
        "transaction": {"transactionId": tx_id, "client_ip": "198.51.100.9", "payment_details": {"card_last4": "7788"}},
        "failed_state": "ProcessChunk",
    }
    reason = "client_ip: is not an IPv4 or IPv6 address"
    return DeadLetter("m-" + str(tx_id), "r", tx_id, error, reason, body, sent_at=NOW - age, receive_count=receives)


def rendered(*args: object, **kwargs: object) -> list[str]:
    """What `mtx dlq list` prints where stdout is not a terminal (a log, a pipe): plain lines."""
    return output.plain(listing(*args, **kwargs)).splitlines()  # type: ignore[arg-type]


def test_oldest_first_with_age_receives_and_totals() -> None:
    letters = [letter("t-new", "InvalidTransaction", 30, 1), letter("t-old", "DatabaseUnavailable", 2 * 86400, 3)]
    document = listing_document(letters, now=NOW)
    assert [e["transaction_id"] for e in document["dead_letters"]] == ["t-old", "t-new"]
    assert document["dead_letters"][0]["age_seconds"] == 2 * 86400 and document["dead_letters"][0]["receive_count"] == 3
    assert document["total"] == 2 and document["oldest_age_seconds"] == 2 * 86400
    assert document["by_error"] == {"InvalidTransaction": 1, "DatabaseUnavailable": 1}
    json.dumps(document)  # what --json prints
    lines = rendered(letters, now=NOW)
    rows = [line for line in lines if line.startswith("t-")]
    assert rows[0].startswith("t-old") and rows[1].startswith("t-new")  # one row per line, oldest first
    assert "2.0d" in rows[0] and rows[0].split()[4] == "3"
    assert lines[-1].startswith("2 dead-lettered, oldest 2.0d")
    assert "'InvalidTransaction': 1" in lines[-1] and "'DatabaseUnavailable': 1" in lines[-1]


def test_no_value_of_the_record_is_printed() -> None:
    letters = [letter("t-1", "InvalidTransaction", 5, 1), letter(None, "InvalidTransaction", 9, 2)]
    for text in ("\n".join(rendered(letters)), json.dumps(listing_document(letters))):
        assert "198.51.100.9" not in text and "7788" not in text
        assert "client_ip: is not an IPv4 or IPv6 address" in text


@pytest.mark.parametrize(("seconds", "text"), [(5, "5s"), (90, "1.5m"), (7200, "2.0h"), (3 * 86400, "3.0d")])
def test_human_age(seconds: float, text: str) -> None:
    assert human_age(seconds) == text


def test_an_empty_queue() -> None:
    assert rendered([], now=NOW)[-1] == "0 dead-lettered, oldest 0s: {}"
    assert listing_document([], now=NOW)["total"] == 0


def test_attempts_are_shown_and_parked_letters_apart() -> None:
    redriven = letter("t-again", "ItemNotFound", 60, 1)
    redriven.body["redrive_attempt"] = 2
    parked = letter("t-parked", "ItemNotFound", 3 * 86400, 4)
    parked.body["redrive_attempt"] = 3
    letters = [letter("t-first", "InvalidTransaction", 30, 1), redriven]
    lines = rendered(letters, now=NOW, parked=[parked])
    header = next(line for line in lines if line.startswith("transaction id"))
    assert header.split()[-2:] == ["tries", "reason"]
    by_id = {line.split()[0]: line.split() for line in lines if line.startswith("t-")}
    assert by_id["t-first"][5] == "0" and by_id["t-again"][5] == "2" and by_id["t-parked"][5] == "3"
    # the queue's total counts the queue alone; the parked ones follow under their own heading
    total = lines.index("2 dead-lettered, oldest 1.0m: {'InvalidTransaction': 1, 'ItemNotFound': 1}")
    assert lines.index(next(line for line in lines if line.startswith("t-parked"))) > total
    assert any(line.startswith("parked (failed every redrive") for line in lines[total:])
    assert lines[-1] == "1 parked: {'ItemNotFound': 1}"
    assert "198.51.100.9" not in "\n".join(lines) and "7788" not in "\n".join(lines)
    document = listing_document(letters, now=NOW, parked=[parked])
    assert [e["attempts"] for e in document["parked"]] == [3] and document["parked_by_error"] == {"ItemNotFound": 1}


@pytest.mark.parametrize(("value", "attempts"), [(None, 0), (0, 0), (3, 3), (-1, 0), ("2", 0), (True, 0)])
def test_attempts_come_from_the_letter_and_anything_odd_counts_as_none(value: object, attempts: int) -> None:
    d = letter("t", "ItemNotFound", 1, 1)
    if value is not None:
        d.body["redrive_attempt"] = value
    assert d.attempts == attempts
