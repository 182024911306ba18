"""ProcessChunk's one pass over a chunk, against the per-record rules it must equal (no servers).

The reference is the per-transaction path's functions called record by record:
``validate_transaction``, ``check_transaction``, ``to_analytics_record`` and the
COPY line built from the validated model. The bulk pass (the fast contract
shortcut, the catalogue verdict cache, the one-pass COPY lines) must produce the
very same COPY lines, analytics lines and dead-letter messages.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import re
from decimal import Decimal
from typing import Any

import orjson
import pytest

from contracts import InvalidTransaction, Transaction, Window, to_analytics_record, validate_transaction
from contracts.compliance import WRITTEN, compliance_row
from contracts.lifecycle import VERSION_FIELDS, version_stamp
from lambdas.check_item.handler import check_transaction
from lambdas.common import fast_contract
from lambdas.common.dead_letters import dead_letter_message
from lambdas.common.enrich import BulkEnricher, FxTable, Purchase, static_fields
from lambdas.common.errors import PipelineError
from lambdas.process_chunk import records as pc
from lambdas.split_file.handler import _text_stream, records
from orchestration.sample_data.catalogue import CATALOGUE, to_dynamodb_item
from orchestration.sample_data.fx import fx_document
from orchestration.sample_data.generate import generate

pytestmark = pytest.mark.unit

REF = "batch:run-1:3"
INGESTED_AT = dt.datetime(2026, 11, 2, 10, 11, 12, 345678, tzinfo=dt.UTC)
RECEIVED = INGESTED_AT.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
INGESTED = INGESTED_AT.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
#: The event times accepted (the generated records run up to today).
WINDOW = Window.at()


FX = FxTable.from_document(json.dumps(fx_document()))
APP = "app-under-test"
#: a line's rollup fact where the test is about the lines only: (game, item, event time, amount in USD)
FACT = ("Game A", "sword", "2026-12-05T10:00:00Z", 1.0)


def _catalogue() -> dict[str, dict[str, Any]]:
    return {it["item_id"]["S"]: it for it in map(to_dynamodb_item, CATALOGUE)}


def _enricher(catalogue: dict[str, dict[str, Any]]) -> BulkEnricher:
    return BulkEnricher(catalogue, FX, APP)


def _reference_copy_line(tx: Transaction, raw: str) -> str:
    """The COPY line as the per-record implementation built it from the model."""
    item, pay = tx.item_purchased, tx.payment_details
    return "\t".join(
        (
            tx.transaction_id, tx.user_id, pc.escaped(tx.game), item.item_id, item.item_type.value,
            str(item.price.amount), item.price.currency, pay.payment_method.value, pay.card_last4 or "\\N",
            pay.transaction_status.value, pay.gateway.value, tx.event_timestamp.isoformat(), tx.server_region.value,
            tx.client_ip, pc.escaped(raw), REF,
        )
    )  # fmt: skip


def _reference(lines: list[str], catalogue: dict[str, dict[str, Any]]) -> tuple[list[str], list[Any], list[Any], int]:
    copy_lines, kept, rejected, dups, seen = [], [], [], 0, set()
    for raw in lines:
        try:
            tx = validate_transaction(raw, window=WINDOW)
            check_transaction(catalogue.get(tx.item_purchased.item_id), tx)
            enriched = static_fields(Purchase.of_wire(tx.to_json_dict()), catalogue.get(tx.item_purchased.item_id),
                                     FX, APP)  # fmt: skip
        except InvalidTransaction as exc:
            rejected.append(dead_letter_message(raw, exc.transaction_id, "InvalidTransaction", str(exc), RECEIVED,
                                                "ProcessChunk", detail={"fields": exc.fields()}))  # fmt: skip
            continue
        except PipelineError as exc:
            rejected.append(dead_letter_message(orjson.loads(raw), tx.transaction_id, type(exc).__name__, str(exc),
                                                RECEIVED, "ProcessChunk"))  # fmt: skip
            continue
        if (tx.transaction_id, tx.payment_details.transaction_status.value) in seen:  # one message once
            dups += 1
            continue
        seen.add((tx.transaction_id, tx.payment_details.transaction_status.value))
        copy_lines.append(_reference_copy_line(tx, raw))
        record = to_analytics_record(tx, INGESTED_AT) | enriched | {"is_first_purchase": None}
        kept.append((tx.transaction_id, tx.event_timestamp.date().isoformat(), orjson.dumps(record)))
    return copy_lines, kept, rejected, dups


def _chunk_lines() -> list[str]:
    lines = [r.line for r in generate(3000, seed=31, invalid_share=0.2, duplicate_share=0.03)]
    # a few valid records in forms the shortcut leaves to the contract, and escapes COPY must carry
    extra = []
    for i, line in enumerate(lines[:400]):
        try:
            rec = json.loads(line)
            validate_transaction(line)
        except (ValueError, InvalidTransaction):
            continue
        if i % 4 == 0:
            rec["event_timestamp"] = rec["event_timestamp"].replace("Z", "+05:30")
        elif i % 4 == 1:
            rec["game"] = f"  {rec['game']} "
        elif i % 4 == 2:
            rec["item_purchased"]["item_name"] = 'Wings "deluxe" \\ edition with ünïcode'
        else:
            rec["client_ip"] = "2001:0DB8:0:0::1"
        rec["transactionId"] = f"x-{i}"
        extra.append(json.dumps(rec, ensure_ascii=i % 2 == 0))
        if i % 50 == 0:  # dated before the FX table's first rate: FxRateMissing
            rec["transactionId"], rec["event_timestamp"] = f"fx-{i}", "2024-06-01T00:00:00Z"
            extra.append(json.dumps(rec))
    return lines + extra


@pytest.mark.parametrize("shortcut", [True, False], ids=["fast-contract", "contract-only"])
def test_one_pass_equals_the_per_record_rules(shortcut: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_contract, "ENABLED", shortcut)
    lines = _chunk_lines()
    catalogue = _catalogue()
    out = pc.Outcome()
    got = list(
        pc.validated_lines(
            lines, pc.CatalogueCheck(catalogue), _enricher(catalogue), REF, RECEIVED, INGESTED, out, WINDOW
        )
    )
    want_copy, want_kept, want_rejected, want_dups = _reference(lines, catalogue)
    assert got == want_copy
    assert _kept(out) == sorted(want_kept)
    assert out.rejected == want_rejected
    assert out.in_chunk_duplicates == want_dups
    assert len(got) + len(out.rejected) + out.in_chunk_duplicates == len(lines)
    assert want_dups > 0 and len(want_rejected) > 300  # the chunk exercised every branch
    reasons = {m["error"]["Error"] for m in out.rejected}
    assert {"InvalidTransaction", "ItemNotFound", "PriceMismatch", "FxRateMissing"} <= reasons


def _kept(out: pc.Outcome) -> list[tuple[str, str, bytes]]:
    got = []
    for day, lines in out.days.items():
        assert lines.body.endswith(b"\n") and len(lines.keys) == lines.body.count(b"\n")
        got += [(k[0], day, line) for k, line in zip(lines.keys, lines.body.split(b"\n"), strict=False)]
    return sorted(got)


def test_analytics_lines_carry_no_pii() -> None:
    out = pc.Outcome()
    catalogue = _catalogue()
    list(pc.validated_lines(_chunk_lines(), pc.CatalogueCheck(catalogue), _enricher(catalogue), REF, RECEIVED,
                            INGESTED, out, WINDOW))  # fmt: skip
    countries = set()
    for _, day, line in _kept(out):
        rec = json.loads(line)
        assert "client_ip" not in rec and "card_last4" not in rec["payment_details"]
        assert not re.search(
            rb"\d+\.\d+\.\d+\.\d+|[0-9a-f]*:[0-9a-f]*:[0-9a-f:]+",
            line.replace(rec["event_timestamp"].encode(), b"").replace(rec["ingested_at"].encode(), b""),
        )
        countries.add(rec["country"])
        assert rec["event_timestamp"].startswith(day) or "+" in rec["event_timestamp"]
    assert len(countries - {None}) > 5  # the IP's country came through, the IP did not


def test_first_purchase_is_settled_last_on_each_line() -> None:
    day = pc.Day()
    day.add(("a", "completed"), b'{"n":1,"is_first_purchase":null}', FACT)
    day.add(("b", "pending"), b'{"n":2,"is_first_purchase":null}', FACT)
    day.add(("b", "completed"), b'{"n":3,"is_first_purchase":null}', FACT)
    day.settle_first_purchases({"b"})
    owned = {("a", "completed"): b"}", ("b", "pending"): b"}", ("b", "completed"): b"}"}
    assert day.owned_body(owned) == (3, b'{"n":1,"is_first_purchase":false}\n{"n":2,"is_first_purchase":true}\n'
                                        b'{"n":3,"is_first_purchase":true}\n')  # fmt: skip


def test_chunk_lines_split_where_split_file_does() -> None:
    inside = json.dumps({"game": "a\u2028b\u0085c\rd"}, ensure_ascii=False)
    body = (inside + "\n\n  \n" + '{"x":1}' + "\n").encode() + b'{"bad utf8": "\xff"}\n'
    got = list(pc.chunk_lines(body))
    assert got == [inside, '{"x":1}', b'{"bad utf8": "\xff"}']  # not UTF-8: left to the contract to refuse


def test_split_file_keeps_lines_and_array_elements_as_sent() -> None:
    # a BOM at the very start of the file is the file's marker, skipped; one inside stays (the contract refuses it)
    ndjson = b'\xef\xbb\xbf{"a":1}\r\n\n  {"b":"\xff"}  \n\xef\xbb\xbf{"c":1}\n'
    assert list(records(_text_stream(io.BytesIO(ndjson)), "k")) == [b'{"a":1}', b'{"b":"\xff"}', b'\xef\xbb\xbf{"c":1}']
    array = gzip.compress(b'\xef\xbb\xbf[ {"a": 1}, {"b": "\xc3\xbc"} ]')
    assert list(records(_text_stream(io.BytesIO(array)), "k")) == [b'{"a": 1}', b'{"b": "\xc3\xbc"}']


def test_array_elements_reach_the_contract_as_sent_and_a_bad_one_alone() -> None:
    """Never re-serialised (a duplicate key, an amount's digits, a bad byte would be lost); an element the
    decoder cannot read is passed on alone, still unreadable, and the elements after it are kept."""
    deep = b"[" * 3000 + b"]" * 3000
    body = (
        b'[{"a":1,"a":2}, {"x": 19.9900000000000001}, {"n": NaN}, garbage, {"s": "a\nb"}, ' + deep
        + b', {"i": ' + b"1" * 5000 + b'}, {"ok": "\xff"},\n {"last":\n true}]'
    )  # fmt: skip
    got = list(records(_text_stream(io.BytesIO(body)), "k"))
    assert got[:5] == [b'{"a":1,"a":2}', b'{"x": 19.9900000000000001}', b'{"n": NaN}', b"garbage", b'{"s": "a\x00b"}']
    assert got[5] == deep and got[6] == b'{"i": ' + b"1" * 5000 + b"}"
    assert got[7:] == [b'{"ok": "\xff"}', b'{"last":  true}']
    for line in got:
        assert b"\n" not in line
        with pytest.raises(InvalidTransaction):
            validate_transaction(line)


def test_a_day_body_holds_only_the_records_the_chunk_owns() -> None:
    day = pc.Day()
    for i in range(5):
        day.add((f"id{i}", "completed"), b'{"n":%d}' % i, FACT)
    day.add(("id1", "refunded"), b'{"n":5}', FACT)
    every = {(f"id{i}", "completed"): b"}" for i in range(5)}
    assert day.owned_body(every) == (5, b'{"n":0}\n{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n')
    assert day.owned_body({("id1", "completed"): b"}", ("id4", "completed"): b"}"}) == (2, b'{"n":1}\n{"n":4}\n')
    assert day.owned_body({("id1", "refunded"): b"}"}) == (1, b'{"n":5}\n')  # a version: its own line
    assert day.owned_body({}) == (0, b"")


def test_each_owned_line_ends_with_its_version_fields() -> None:
    """The analytics line of a version carries ``contracts.lifecycle.version_stamp`` after its last key."""
    day = pc.Day()
    day.add(("t1", "pending"), b'{"n":1,"is_first_purchase":null}', FACT)
    day.add(("t1", "completed"), b'{"n":2,"is_first_purchase":null}', FACT)
    day.settle_first_purchases({"t1"})
    at = "2026-01-02T03:04:05.000000Z"
    owned = {("t1", "pending"): pc.stamp_tail(1, None, at), ("t1", "completed"): pc.stamp_tail(2, "pending", at)}
    count, body = day.owned_body(owned)
    lines = [json.loads(line) for line in body.splitlines()]
    assert count == 2
    assert [{k: r[k] for k in VERSION_FIELDS} for r in lines] == [
        version_stamp(1, None, at), version_stamp(2, "pending", at)]  # fmt: skip
    assert [r["n"] for r in lines] == [1, 2] and all(r["is_first_purchase"] is True for r in lines)


def test_several_statuses_of_one_transaction_are_its_messages_and_a_repeat_a_duplicate() -> None:
    """A chunk with pending, completed and refunded of one transaction yields the three COPY lines (versions,
    decided when stored) and flags ``several``; the same message again is an in-chunk duplicate."""
    [record] = list(generate(1, seed=77, invalid_share=0.0, duplicate_share=0.0))
    rec = json.loads(record.line)
    lines = []
    for status in ("completed", "pending", "refunded", "completed"):
        rec["payment_details"]["transaction_status"] = status
        lines.append(json.dumps(rec))
    catalogue = _catalogue()
    out = pc.Outcome()
    got = list(pc.validated_lines(lines, pc.CatalogueCheck(catalogue), _enricher(catalogue), REF, RECEIVED, INGESTED,
                                  out, WINDOW))  # fmt: skip
    assert [line.split("\t")[9] for line in got] == ["completed", "pending", "refunded"]
    assert (out.valid, out.in_chunk_duplicates, out.several) == (3, 1, True)
    [day] = out.days.values()
    assert day.keys == [(rec["transactionId"], s) for s in ("completed", "pending", "refunded")]
    one = pc.Outcome()
    list(pc.validated_lines(lines[:1], pc.CatalogueCheck(catalogue), _enricher(catalogue), REF, RECEIVED, INGESTED,
                            one, WINDOW))  # fmt: skip
    assert one.several is False


def test_an_endless_line_or_array_element_is_cut_and_the_records_after_it_kept() -> None:
    """A gzip bomb of one record cannot exhaust SplitFile's memory, nor fail the file: the line or array
    element is cut at MAX_LINE (ProcessChunk quarantines it as oversize), the rest of it is skipped without
    being held (an element's end is found by a scan that keeps its state across buffers: strings with
    brackets, commas and escaped quotes in them, nested brackets), and the next record is read as usual."""
    from lambdas.split_file.handler import _READ, MAX_LINE

    body = gzip.compress(b'{"a":1}\n' + b"x" * (3 * MAX_LINE + 5) + b'\n{"b":2}\n')
    got = list(records(_text_stream(io.BytesIO(body)), "k"))
    assert [len(line) for line in got] == [7, MAX_LINE, 7] and got[2] == b'{"b":2}'
    tricky = rb"x\\\"],{, [" * (_READ // 8)  # string text that looks like an element end, across buffers
    element = b'{"a": [[{"s": "' + tricky + b'"}, {"s": "' + tricky + b'"}], 1], "b": "' + b"x" * (2 * MAX_LINE) + b'"}'
    deep = b"[" * 5000 + b"]" * 5000
    array = gzip.compress(b'[{"first": 1}, ' + element + b' , {"b": 2}, "\xff", }, [' + deep + b"]]")
    got = list(records(_text_stream(io.BytesIO(array)), "k"))
    assert len(got) == 6 and got[0] == b'{"first": 1}' and got[2:5] == [b'{"b": 2}', b'"\xff"', b"}"]
    assert len(got[1]) == MAX_LINE and element.startswith(got[1])  # cut, as sent
    assert got[5] == b"[" + deep + b"]"  # too deep for the decoder: passed on alone


def test_only_a_whole_file_error_fails_the_file() -> None:
    """Not JSON at all, not UTF-8 from its first byte (UTF-16), an array never closed: the file's run fails
    (NotJsonFile, the file moved aside); any single record, however broken, is passed on alone."""
    from lambdas.split_file.handler import NotJsonFile

    for body in (b"\x00\x01 binary", "[{}]".encode("utf-16"), b"name,price\n1,2\n", b'[{"a": 1}, {"b": "'):
        with pytest.raises(NotJsonFile):
            list(records(_text_stream(io.BytesIO(body)), "k"))
    broken = b'{"a": 1}\n\xff\xfe\x00junk\n' + b"[" * 100_000 + b"\n{" + b'"x":' * 20_000 + b"\n"
    assert len(list(records(_text_stream(io.BytesIO(broken)), "k"))) == 4


def test_a_record_with_a_thousand_errors_keeps_twenty_and_counts_the_rest() -> None:
    """Every answer, dead letter and alert stays far below SQS's and SNS's 256 KB."""
    body = "{" + ",".join(f'"k{i}":1' for i in range(900)) + "}"
    assert len(body) < 8192
    with pytest.raises(InvalidTransaction) as caught:
        validate_transaction(body)
    exc = caught.value
    assert len(exc.errors) == 20 and exc.omitted > 880
    assert exc.to_dict()["fields_omitted"] == exc.omitted and "more field errors" in str(exc)
    assert len(json.dumps(exc.to_dict())) < 5000


def _copy_values(line: str) -> list[str | None]:
    """A COPY text-format line's values (``\\N`` is null; backslash escapes undone)."""
    escapes = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
    return [None if v == "\\N" else re.sub(r"\\(.)", lambda m: escapes[m.group(1)], v) for v in line.split("\t")]


def test_the_copy_line_is_the_contracts_compliance_row() -> None:
    """The hand-built COPY line holds, column for column, what contracts/compliance.py maps the record to."""
    checked = 0
    for raw in _chunk_lines():
        try:
            tx = validate_transaction(raw, window=WINDOW)
        except InvalidTransaction:
            continue
        accepted = fast_contract.from_transaction(tx)
        got = dict(zip(WRITTEN, _copy_values(pc.copy_line(accepted, str(accepted.amount), raw, REF)), strict=True))
        want = compliance_row(tx.to_json_dict(), REF)
        assert got.keys() == want.keys()
        for column in WRITTEN:
            if column == "raw":  # the COPY keeps the record as received, the INSERT the validated wire form
                assert validate_transaction(got[column], window=WINDOW) == tx
            elif column == "price_amount":
                assert Decimal(str(got[column])) == Decimal(want[column]), column
            elif column == "event_at":
                assert dt.datetime.fromisoformat(str(got[column])) == dt.datetime.fromisoformat(want[column])
            else:
                assert got[column] == want[column], column
        checked += 1
    assert checked > 2000


def test_the_rollups_read_from_the_kept_facts_are_those_of_the_written_lines() -> None:
    """``owned_revenue`` takes each owned version's rollup values from what the chunk kept beside its analytics line
    (no second parse of the line). An undo withdraws what ``of_record`` reads back from the written lines, so both
    must give the same versions and the same groups (the groups' markers must match): checked on a chunk with
    every branch (contract-only forms, FX-less records, rejects) and a mix of owned versions (some messages not
    owned, later versions with their previous status)."""
    from lambdas.common.realtime import _hour, aggregate, groups, of_record
    from lambdas.process_chunk.store import owned_revenue

    catalogue = _catalogue()
    out = pc.Outcome()
    list(pc.validated_lines(_chunk_lines(), pc.CatalogueCheck(catalogue), _enricher(catalogue), REF, RECEIVED,
                            INGESTED, out, WINDOW))  # fmt: skip
    owned: dict[tuple[str, str], bytes] = {}
    for i, key in enumerate(k for day in out.days.values() for k in day.keys):
        if i % 7 != 3:  # every seventh message is another's (a duplicate of a stored version)
            previous = None if i % 3 else "pending"
            owned[key] = pc.stamp_tail(1 + (i % 3 == 0), previous, INGESTED)
    from_facts = owned_revenue(out.days, owned)
    from_lines = [of_record(orjson.loads(line)) for day in out.days.values()
                  for line in day.owned_body(owned)[1].splitlines()]  # fmt: skip
    assert len(from_facts) == len(owned) > 1000

    def comparable(vs: list[Any]) -> list[tuple[Any, ...]]:  # the event time as its UTC hour: what a rollup reads
        return [(x.transaction_id, x.version, x.previous_status, x.status, x.game, x.item_id, _hour(x.event_at),
                 x.amount_usd) for x in vs]  # fmt: skip

    assert comparable(from_facts) == comparable(from_lines)
    assert groups(aggregate(from_facts)) == groups(aggregate(from_lines))
