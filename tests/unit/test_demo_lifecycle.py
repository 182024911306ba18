"""``make run`` with status updates, the parts that need no stack: phases, the split between the API and the stream,
the audit by outcome, the dead letters' lifecycle rules, and reading gross / refunded / net from an answer."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from decimal import Decimal
from itertools import pairwise

import pytest

from contracts.lifecycle import IMMUTABLE_FIELD, MOVE_NOT_ALLOWED, immutable_refusal_text, move_refusal_text
from orchestration.cli import demo_lifecycle
from orchestration.cli.demo_lifecycle import Expected, Observed, audit, expected, letter_rule, phases, totals
from orchestration.cli.demo_stream import StreamPath, split
from orchestration.sample_data.generate import generate
from orchestration.sample_data.records import (
    DEAD_LETTERED,
    DUPLICATE,
    HARMLESS,
    LIFECYCLE_KINDS,
    STATUS_UPDATE,
    STORED,
    VALID,
    GeneratedRecord,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def records() -> list[GeneratedRecord]:
    return list(generate(2000, seed=7, invalid_share=0.08, lifecycle_share=0.05))


def test_phases_are_in_order_and_hold_every_record_once(records: list[GeneratedRecord]) -> None:
    sent = phases(records)
    assert [{r.phase for r in p} for p in sent] == [{0}, {1}, {2}]
    assert sorted(map(id, (r for p in sent for r in p))) == sorted(map(id, records))
    for phase in sent:  # one message per transaction per phase, but for a plain re-send of a first message
        ids = Counter(r.transaction_id for r in phase if r.transaction_id and r.kind != DUPLICATE)
        assert max(ids.values()) == 1
    assert phases([]) == []


def test_split_keeps_a_transaction_on_one_path_and_gives_the_stream_its_share(records: list[GeneratedRecord]) -> None:
    api, stream = split(records)
    assert len(api) + len(stream) == len(records)
    api_ids = {r.transaction_id for r in api}
    stream_ids = {r.transaction_id for r in stream}
    assert not (api_ids & stream_ids), "every message of a transaction goes through one entrance"
    assert None not in stream_ids
    kinds = Counter(r.kind for r in stream)
    assert kinds[VALID] > 300 and kinds[STATUS_UPDATE] >= 20
    assert sum(kinds[k] for k in LIFECYCLE_KINDS) > kinds[STATUS_UPDATE], "some lifecycle refusals by stream too"
    assert kinds[DUPLICATE] == 0, "a first message and its re-send in one phase stay with the API path"
    for phase in phases(stream):
        ids = [r.transaction_id for r in phase]
        assert len(ids) == len(set(ids))


def test_expected_counts_messages_by_outcome_version_and_rule(records: list[GeneratedRecord]) -> None:
    want = expected(records)
    assert want.sent == len(records) == sum(want.outcomes.values())
    assert want.outcomes[STORED] == sum(want.versions.values())
    assert want.versions[1] == sum(1 for r in records if r.kind == VALID)
    assert want.versions[2] + want.versions[3] == sum(1 for r in records if r.kind == STATUS_UPDATE)
    assert set(want.rules) == {MOVE_NOT_ALLOWED, IMMUTABLE_FIELD}
    assert want.transactions == want.versions[1]
    # the last stored status of every transaction: refunds and chargebacks are purchases taken back
    counts = want.revenue_counts()
    last = {}
    for r in records:
        if r.outcome == STORED:
            last[r.transaction_id] = json.loads(r.line)["payment_details"]["transaction_status"]
    assert counts == {
        "purchases": sum(1 for s in last.values() if s in ("completed", "refunded", "chargeback")),
        "refunded": sum(1 for s in last.values() if s in ("refunded", "chargeback")),
    }
    assert counts["refunded"] > 20


def _observed_as_labelled(want: Expected) -> Observed:
    return Observed(
        sent=want.sent, stored=want.outcomes[STORED], harmless=want.outcomes[HARMLESS],
        dead_lettered=want.outcomes[DEAD_LETTERED], versions=Counter(want.versions), rules=Counter(want.rules),
        letters_per_id=Counter(want.letters_per_id),
    )  # fmt: skip


def test_audit_passes_what_the_labels_say_and_names_what_differs(records: list[GeneratedRecord]) -> None:
    want = expected(records)
    assert all(ok for *_, ok in audit(want, _observed_as_labelled(want)))

    # the entrance before versions: an update taken for a duplicate of its transaction
    before = _observed_as_labelled(want)
    updates = want.versions[2] + want.versions[3]
    before.stored -= updates
    before.harmless += updates
    before.versions = Counter({1: want.versions[1]})
    failed = {what for what, _, _, ok in audit(want, before) if not ok}
    assert failed == {"stored as a version", "harmless (duplicate or stale)", "versions (transaction_versions)"}

    # a stale version dead-lettered instead of ignored, under the wrong rule
    wrong = _observed_as_labelled(want)
    stale = next(r for r in records if r.outcome == HARMLESS and r.transaction_id)
    assert stale.transaction_id is not None
    wrong.harmless -= 1
    wrong.dead_lettered += 1
    wrong.rules[MOVE_NOT_ALLOWED] += 1
    wrong.letters_per_id[stale.transaction_id] += 1
    failed = {what for what, _, _, ok in audit(want, wrong) if not ok}
    assert failed == {"harmless (duplicate or stale)", "dead-lettered", "lifecycle refusals by rule",
                      "dead letters not where expected"}  # fmt: skip
    rows = dict(demo_lifecycle.audit_rows(audit(want, wrong)))
    assert rows["dead-lettered"].endswith("MISMATCH") and not rows["sent"].endswith("MISMATCH")


def test_the_stream_invariant_counts_by_outcome() -> None:
    path = StreamPath(sent=10, stored=6, dead_lettered=2, expected_stored=6, expected_dead_lettered=2,
                      expected_versions=Counter({1: 5, 2: 1}), versions=Counter({1: 5, 2: 1}))  # fmt: skip
    assert path.harmless == 2 and path.exactly_once
    path.versions = Counter({1: 6})  # as many rows, but the update stored as a first version somewhere
    assert not path.exactly_once
    path.versions = Counter({1: 5, 2: 1})
    path.letter_ids = Counter({"tx-1": 2})
    assert not path.exactly_once, "a transaction dead-lettered twice"


def test_letter_rule_reads_the_lifecycle_rule_from_a_dead_letter() -> None:
    assert letter_rule(f"{move_refusal_text()} [{MOVE_NOT_ALLOWED}]", {}) == MOVE_NOT_ALLOWED
    body = {"error": {"Error": "LifecycleMoveRefused", "Cause": json.dumps(
        {"errorMessage": immutable_refusal_text("user_id"), "rule": IMMUTABLE_FIELD})}}  # fmt: skip
    assert letter_rule(immutable_refusal_text("user_id"), body) == IMMUTABLE_FIELD
    assert letter_rule("item_purchased.price.amount: differs from the catalogue price", {"error": {}}) is None


def test_totals_from_an_answer_of_any_documented_shape() -> None:
    top = totals({"purchases": 3, "gross_usd": "30.00", "refunded_usd": "5.00", "net_usd": "25.00"})
    assert top == {"purchases": 3, "gross_usd": Decimal("30.00"), "refunded_usd": Decimal("5.00"),
                   "net_usd": Decimal("25.00")}  # fmt: skip
    nested = totals({"game": None, "totals": {"purchase_count": 2, "gross_usd": 20, "net_usd": 20}})
    assert nested == {"purchases": 2, "gross_usd": 20, "net_usd": 20}
    rows = totals({"rows": [{"game": "a", "revenue_hour": "2026-10-01T10", "purchases": 1, "gross_usd": "9.99",
                             "refunded_usd": "9.99", "net_usd": "0"},
                            {"game": "b", "purchases": 2, "gross_usd": "4.02", "refunded_usd": "0",
                             "net_usd": "4.02"}]})  # fmt: skip
    assert rows == {"purchases": 3, "gross_usd": Decimal("14.01"), "refunded_usd": Decimal("9.99"),
                    "net_usd": Decimal("4.02")}  # fmt: skip
    assert totals({"rows": []}) is None
    assert totals({"revenue_usd": 10}) is None, "no gross / net: not an answer with those figures"
    assert totals(None) is None


def test_revenue_rows_say_what_is_absent_instead_of_failing(records: list[GeneratedRecord]) -> None:
    want = expected(records)
    absent = demo_lifecycle.revenue_rows((None, "the warehouse has no analytics.fct_hourly_revenue mart"),
                                         (None, "the analytics API has no realtime_revenue operation here (HTTP 400)"),
                                         want)  # fmt: skip
    shown = dict(absent)
    assert shown["warehouse mart"].startswith("not available: the warehouse has no")
    assert shown["real-time aggregates"].startswith("not available:")
    assert "mart vs real-time" not in shown
    counts = want.revenue_counts()
    assert shown["generated (this run)"] == (
        f"{counts['purchases']} purchases stored, {counts['refunded']} of them refunded or charged back"
    )
    figures = {"purchases": Decimal(4), "gross_usd": Decimal("40"), "refunded_usd": Decimal("10"),
               "net_usd": Decimal("30")}  # fmt: skip
    both = dict(demo_lifecycle.revenue_rows((figures, "mart"), (dict(figures), "realtime_revenue"), want))
    assert both["warehouse mart"].startswith("gross 40.00 USD, refunded 10.00 USD, net 30.00 USD; 4 purchases")
    assert both["mart vs real-time"] == "equal"
    other = dict(figures, net_usd=Decimal("31"))
    assert dict(demo_lifecycle.revenue_rows((figures, "m"), (other, "r"), want))["mart vs real-time"] == "DIFFERENT"


def test_hour_windows_cover_the_events_within_the_operations_limit() -> None:
    windows = demo_lifecycle.hour_windows("2026-08-03T07:59:59Z", "2026-10-31T23:00:01Z")
    assert windows[0][0] == "2026-08-03T07" and windows[-1][1] == "2026-10-31T23"
    hours = [(dt.datetime.strptime(a, "%Y-%m-%dT%H"), dt.datetime.strptime(b, "%Y-%m-%dT%H")) for a, b in windows]
    for (_, last), (next_first, _) in pairwise(hours):
        assert next_first - last == dt.timedelta(hours=1), "no hour left out, none read twice"
    assert all((last - first) / dt.timedelta(hours=1) + 1 <= demo_lifecycle.HOURS_PER_CALL for first, last in hours)
    assert len(windows) == 3
    assert demo_lifecycle.hour_windows("2026-08-03T07:10:00Z", "2026-08-03T07:50:00Z") == [
        ("2026-08-03T07", "2026-08-03T07")
    ]


def test_expected_knows_the_games_and_hours_to_read_back(records: list[GeneratedRecord]) -> None:
    want = expected(records)
    stored = [json.loads(r.line) for r in records if r.outcome == STORED]
    assert want.games == {w["game"] for w in stored}
    assert want.events == (min(w["event_timestamp"] for w in stored), max(w["event_timestamp"] for w in stored))
    assert demo_lifecycle.realtime_revenue(lambda query: (500, {}), Expected()) == (None, "nothing stored to read")


def test_totals_read_the_realtime_revenue_answer() -> None:
    answer = {"result": {"game": "Starfall Arena", "rows": [
        {"hour": "2026-10-01T10", "purchases": 2, "gross_usd": "12.5000", "refunded_usd": "2.5000",
         "net_usd": "10.0000"}], "totals": {"purchases": 2, "gross_usd": "12.5000", "refunded_usd": "2.5000",
                                           "net_usd": "10.0000"}}}  # fmt: skip
    assert totals(answer["result"]) == {"purchases": 2, "gross_usd": Decimal("12.5"), "refunded_usd": Decimal("2.5"),
                                        "net_usd": Decimal("10")}  # fmt: skip
