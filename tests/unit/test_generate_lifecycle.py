"""The generator's lifecycle share: status updates, illegal moves, immutable-field changes, out-of-order versions and
re-sends, each labelled with what the pipeline must do with it, and those labels agree with contracts.lifecycle."""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from typing import Any

import pytest

from contracts import validate_transaction
from contracts.lifecycle import (
    IMMUTABLE_FIELD,
    IMMUTABLE_PATHS,
    MOVE_NOT_ALLOWED,
    Verdict,
    changed_immutable,
    decide,
)
from lambdas.check_item.handler import check_against
from orchestration.sample_data.catalogue import BY_ID, to_dynamodb_item
from orchestration.sample_data.generate import (
    ALL_KINDS,
    INVALID_KINDS,
    KINDS,
    LIFECYCLE_INVALID_KINDS,
    LIFECYCLE_KINDS,
    STATUS_UPDATE,
    VALID,
    GeneratedRecord,
    add_arguments,
    generate,
    run,
)
from orchestration.sample_data.records import (
    DEAD_LETTERED,
    DUPLICATE,
    HARMLESS,
    ILLEGAL_MOVE,
    IMMUTABLE_CHANGE,
    RESENT_VERSION,
    STALE_VERSION,
    STORED,
)

pytestmark = pytest.mark.unit

N = 6000
SHARE = 0.06
INVALID = 0.13


@pytest.fixture(scope="module")
def records() -> list[GeneratedRecord]:
    return list(generate(N, seed=2512, invalid_share=INVALID, lifecycle_share=SHARE))


def status_of(record: GeneratedRecord) -> str:
    return str(json.loads(record.line)["payment_details"]["transaction_status"])


def by_transaction(records: list[GeneratedRecord]) -> dict[str, list[GeneratedRecord]]:
    out: dict[str, list[GeneratedRecord]] = defaultdict(list)
    for record in records:
        if record.transaction_id is not None:
            out[record.transaction_id].append(record)
    return out


def replay(messages: list[GeneratedRecord]) -> list[tuple[str, int | None, str | None]]:
    """What a compliance store that follows contracts.lifecycle does with one transaction's messages, sent in
    phase order: (outcome, version stored as, rule of the refusal) per message."""
    stored: dict[str, Any] | None = None
    version = 0
    out: list[tuple[str, int | None, str | None]] = []
    for record in sorted(messages, key=lambda r: r.phase):
        wire = json.loads(record.line)
        incoming = wire["payment_details"]["transaction_status"]
        verdict = decide(stored["payment_details"]["transaction_status"] if stored else None, incoming)
        if verdict in (Verdict.DUPLICATE, Verdict.STALE):
            out.append((HARMLESS, None, None))
        elif verdict is Verdict.ILLEGAL:
            out.append((DEAD_LETTERED, None, MOVE_NOT_ALLOWED))
        elif verdict is Verdict.APPLY and stored is not None and changed_immutable(stored, wire) is not None:
            out.append((DEAD_LETTERED, None, IMMUTABLE_FIELD))
        else:  # NEW or an allowed move
            version += 1
            stored = wire
            out.append((STORED, version, None))
    return out


# ------------------------------------------------------------------------------------------ shares, seed


def test_off_by_default_and_byte_identical_to_a_zero_share() -> None:
    plain = list(generate(1500, seed=9, invalid_share=0.1))
    assert [r.line for r in plain] == [r.line for r in generate(1500, seed=9, invalid_share=0.1, lifecycle_share=0)]
    assert set(Counter(r.kind for r in plain)) == set(KINDS)
    assert all(r.phase == 0 for r in plain)


def test_same_seed_same_messages_and_labels_and_another_seed_differs() -> None:
    a = list(generate(3000, seed=31, invalid_share=0.1, lifecycle_share=0.05))
    b = list(generate(3000, seed=31, invalid_share=0.1, lifecycle_share=0.05))
    assert a == b  # lines, kinds, versions, rules, phases
    c = list(generate(3000, seed=32, invalid_share=0.1, lifecycle_share=0.05))
    assert [r.line for r in a] != [r.line for r in c]


@pytest.mark.parametrize("n", [0, 1, 7, 50, 401, 2000])
def test_exact_count(n: int) -> None:
    assert sum(1 for _ in generate(n, seed=4, invalid_share=0.1, duplicate_share=0.02, lifecycle_share=0.05)) == n


def test_shares_are_respected(records: list[GeneratedRecord]) -> None:
    counts = Counter(r.kind for r in records)
    assert set(counts) == set(ALL_KINDS), "every kind appears"
    assert counts[STATUS_UPDATE] == round(N * SHARE)
    invalid = INVALID_KINDS + LIFECYCLE_INVALID_KINDS
    assert sum(counts[k] for k in invalid) == round(N * INVALID)
    per_kind = [counts[k] for k in invalid]
    assert max(per_kind) - min(per_kind) <= 1, "the invalid share is split evenly over all its kinds"
    assert counts[DUPLICATE] == round(N * 0.01)


@pytest.mark.parametrize(
    "options",
    [
        {"lifecycle_share": -0.1},
        {"lifecycle_share": 1.2},
        {"invalid_share": 0.5, "lifecycle_share": 0.6},
        {"invalid_share": 0.0, "duplicate_share": 0.0, "lifecycle_share": 0.6},  # too few first messages to update
        {"invalid_share": 0.9, "duplicate_share": 0.0, "lifecycle_share": 0.05},  # lifecycle kinds need them too
    ],
)
def test_bad_options_are_refused_at_call_time(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        generate(100, seed=1, **options)


# ------------------------------------------------------------------------------------------ the labels


def test_every_label_agrees_with_contracts_lifecycle(records: list[GeneratedRecord]) -> None:
    """Replaying each transaction's messages in phase order through decide() and changed_immutable() gives the
    outcome, version and rule the generator wrote on each."""
    replayed = 0
    for tx_id, messages in by_transaction(records).items():
        if any(r.kind not in (VALID, DUPLICATE, *LIFECYCLE_KINDS) for r in messages):
            continue  # the contract's and the shop's rejects: not the lifecycle's
        want = replay(messages)
        got = [(r.outcome, r.version, r.rule) for r in sorted(messages, key=lambda r: r.phase)]
        assert got == want, tx_id
        replayed += len(messages)
    assert replayed > N * 0.8


def test_every_case_of_the_lifecycle_is_present(records: list[GeneratedRecord]) -> None:
    lives = Counter(
        tuple((status_of(r), r.kind) for r in sorted(m, key=lambda r: r.phase))
        for m in by_transaction(records).values()
        if any(r.kind in LIFECYCLE_KINDS for r in m)
    )
    present = {tuple(s for s, _ in life) for life in lives}
    for life in [
        ("pending", "completed"), ("pending", "failed"), ("completed", "refunded"), ("completed", "chargeback"),
        ("pending", "completed", "refunded"),  # the valid share's lives of a payment
        ("failed", "completed"), ("completed", "refunded", "chargeback"), ("pending", "refunded"),  # illegal moves
        ("completed", "pending"),  # out of order: the newest sent first
        ("pending", "completed", "pending"),  # an older status after the newer one
        ("pending", "completed", "completed"),  # an update re-sent
    ]:  # fmt: skip
        assert life in present, life
    changed = {r.field for r in records if r.kind == IMMUTABLE_CHANGE}
    assert changed == {"user_id", "event_timestamp"}
    refunds = sum(n for life, n in lives.items() if life[-1] == ("refunded", STATUS_UPDATE))
    assert refunds >= 10, "a few completed purchases are refunded later"


def test_outcomes_versions_rules_and_phases_per_kind(records: list[GeneratedRecord]) -> None:
    for record in records:
        if record.kind == VALID:
            assert (record.outcome, record.version, record.phase) == (STORED, 1, 0)
        elif record.kind == STATUS_UPDATE:
            assert record.outcome == STORED and record.version == record.phase + 1 >= 2
        elif record.kind in (STALE_VERSION, RESENT_VERSION, DUPLICATE):
            assert record.outcome == HARMLESS and record.version is None and record.rule is None
        elif record.kind == ILLEGAL_MOVE:
            assert (record.outcome, record.rule, record.field) == (
                DEAD_LETTERED, MOVE_NOT_ALLOWED, "payment_details.transaction_status")  # fmt: skip
        elif record.kind == IMMUTABLE_CHANGE:
            assert (record.outcome, record.rule) == (DEAD_LETTERED, IMMUTABLE_FIELD)
            assert record.field in IMMUTABLE_PATHS
        else:
            assert record.outcome == DEAD_LETTERED and record.rule is None and record.phase == 0


def test_a_follow_up_comes_after_what_it_follows_one_phase_later(records: list[GeneratedRecord]) -> None:
    for tx_id, messages in by_transaction(records).items():
        phases = [r.phase for r in messages if r.kind != DUPLICATE]
        assert phases == list(range(len(phases))), tx_id  # in generation order, one phase each
        versions = [r.version for r in messages if r.kind in (VALID, STATUS_UPDATE)]
        assert versions == list(range(1, len(versions) + 1)), tx_id


def test_follow_ups_change_only_the_status_or_the_labelled_field(records: list[GeneratedRecord]) -> None:
    messages = by_transaction(records)
    for record in records:
        if record.kind not in LIFECYCLE_KINDS:
            continue
        assert record.transaction_id is not None
        first = json.loads(messages[record.transaction_id][0].line)
        wire = json.loads(record.line)
        assert first["payment_details"] | {"transaction_status": None} == wire["payment_details"] | {
            "transaction_status": None
        }
        rest = {k: v for k, v in wire.items() if k != "payment_details"}
        first_rest = {k: v for k, v in first.items() if k != "payment_details"}
        if record.kind == IMMUTABLE_CHANGE:
            assert changed_immutable(first, wire) == record.field
            assert {k for k in rest if rest[k] != first_rest[k]} == {record.field}
            assert wire["event_timestamp"][:16] == first["event_timestamp"][:16], "same minute, same day"
        else:
            assert rest == first_rest
        if record.kind == RESENT_VERSION:
            earlier = [r for r in messages[record.transaction_id] if r.phase == record.phase - 1]
            assert [r.line for r in earlier] == [record.line], "byte for byte"


def test_lifecycle_messages_pass_the_contract_and_the_shop_check(records: list[GeneratedRecord]) -> None:
    """So that what refuses an illegal move or an immutable change is the lifecycle, nothing before it."""
    for record in records:
        if record.kind not in LIFECYCLE_KINDS:
            continue
        tx = validate_transaction(record.line)
        assert tx.transaction_id == record.transaction_id
        wire = json.loads(record.line)
        check_against(to_dynamodb_item(BY_ID[wire["item_purchased"]["item_id"]]), wire)  # raises on a reject


def test_first_messages_of_a_chain_are_never_re_sent_as_plain_duplicates(records: list[GeneratedRecord]) -> None:
    for tx_id, messages in by_transaction(records).items():
        if any(r.kind in LIFECYCLE_KINDS for r in messages):
            assert not any(r.kind == DUPLICATE for r in messages), tx_id


# ------------------------------------------------------------------------------------------ CLI


def test_cli_counts_the_lifecycle_kinds(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "life.ndjson"
    args = parser.parse_args(["-n", "900", "--seed", "5", "--lifecycle-share", "0.05", "--out", str(out), "--json"])
    assert run(args) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["kinds"][STATUS_UPDATE] == 45
    assert set(document["kinds"]) == set(ALL_KINDS)
    assert sum(document["kinds"].values()) == 900 == len(out.read_text().splitlines())
    plain = parser.parse_args(["-n", "90", "--out", str(tmp_path / "plain.ndjson"), "--json"])
    assert run(plain) == 0
    assert set(json.loads(capsys.readouterr().out)["kinds"]) == set(KINDS)
