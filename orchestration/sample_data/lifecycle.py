"""The life of a payment in the sample data: transactions whose later messages carry a new status.

A **chain** is the messages of one transaction, in the order they are sent: its first message (a valid record,
stored as version 1) and one or two follow-ups with the same ``transactionId`` and the same other fields, each
of a later **phase** (sent only once the message before it was settled). The valid share gets the realistic
life of a payment (:data:`VALID_CHAINS`): pending -> completed | failed, completed -> refunded | chargeback,
pending -> completed -> refunded. The invalid share gets, per lifecycle kind (:data:`INVALID_CHAINS`):

- ``illegal_move``: failed -> completed, refunded -> chargeback, pending -> refunded (dead-lettered,
  ``lifecycle.move_not_allowed``);
- ``immutable_change``: pending -> completed with another ``user_id`` or ``event_timestamp`` (dead-lettered,
  ``lifecycle.immutable_field``; both pass the contract and the shop check, so the lifecycle is what refuses);
- ``stale_version``: the newest status sent first (completed, then pending), or pending after completed
  (harmless, nothing written);
- ``resent_version``: an exact re-send of a stored update (harmless).

Which message is stored as which version, and what a refusal's rule is, is declared here per step; a unit test
replays every chain through ``contracts.lifecycle.decide`` and ``changed_immutable`` and finds the same.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson

from contracts.lifecycle import IMMUTABLE_FIELD, MOVE_NOT_ALLOWED
from contracts.transaction import TransactionStatus
from orchestration.sample_data.records import (
    ILLEGAL_MOVE,
    IMMUTABLE_CHANGE,
    LIFECYCLE_INVALID_KINDS,
    RESENT_VERSION,
    STALE_VERSION,
    STATUS_UPDATE,
    VALID,
    GeneratedRecord,
)
from orchestration.sample_data.world import Weighted

S = TransactionStatus
STATUS_PATH = "payment_details.transaction_status"


@dataclass(frozen=True)
class Step:
    """One message of a chain: its status and kind (``valid`` for the first)."""

    status: TransactionStatus
    kind: str


Chain = tuple[Step, ...]


def _chain(*steps: tuple[TransactionStatus, str]) -> Chain:
    return tuple(Step(status, kind) for status, kind in steps)


PENDING_COMPLETED = _chain((S.PENDING, VALID), (S.COMPLETED, STATUS_UPDATE))
PENDING_FAILED = _chain((S.PENDING, VALID), (S.FAILED, STATUS_UPDATE))
COMPLETED_REFUNDED = _chain((S.COMPLETED, VALID), (S.REFUNDED, STATUS_UPDATE))
COMPLETED_CHARGEBACK = _chain((S.COMPLETED, VALID), (S.CHARGEBACK, STATUS_UPDATE))
PENDING_COMPLETED_REFUNDED = _chain((S.PENDING, VALID), (S.COMPLETED, STATUS_UPDATE), (S.REFUNDED, STATUS_UPDATE))
#: The valid share's lives of a payment, weighted by how often each is the reason for an update.
VALID_CHAINS: Weighted[Chain] = Weighted(
    [
        (PENDING_COMPLETED, 45),
        (PENDING_FAILED, 12),
        (COMPLETED_REFUNDED, 25),
        (COMPLETED_CHARGEBACK, 8),
        (PENDING_COMPLETED_REFUNDED, 10),
    ]
)

FAILED_THEN_COMPLETED = _chain((S.FAILED, VALID), (S.COMPLETED, ILLEGAL_MOVE))
REFUNDED_THEN_CHARGEBACK = _chain((S.COMPLETED, VALID), (S.REFUNDED, STATUS_UPDATE), (S.CHARGEBACK, ILLEGAL_MOVE))
PENDING_THEN_REFUNDED = _chain((S.PENDING, VALID), (S.REFUNDED, ILLEGAL_MOVE))
COMPLETED_WITH_CHANGE = _chain((S.PENDING, VALID), (S.COMPLETED, IMMUTABLE_CHANGE))
NEWEST_FIRST = _chain((S.COMPLETED, VALID), (S.PENDING, STALE_VERSION))
PENDING_AFTER_COMPLETED = _chain((S.PENDING, VALID), (S.COMPLETED, STATUS_UPDATE), (S.PENDING, STALE_VERSION))
UPDATE_RESENT = _chain((S.PENDING, VALID), (S.COMPLETED, STATUS_UPDATE), (S.COMPLETED, RESENT_VERSION))
FIRST_RESENT = _chain((S.COMPLETED, VALID), (S.COMPLETED, RESENT_VERSION))
#: Per lifecycle kind of the invalid share, its chains in turn: (the chain, the one used when no status update is
#: left in the budget for it).
INVALID_CHAINS: dict[str, tuple[tuple[Chain, Chain], ...]] = {
    ILLEGAL_MOVE: (
        (FAILED_THEN_COMPLETED, FAILED_THEN_COMPLETED),
        (REFUNDED_THEN_CHARGEBACK, PENDING_THEN_REFUNDED),
        (PENDING_THEN_REFUNDED, PENDING_THEN_REFUNDED),
    ),
    IMMUTABLE_CHANGE: ((COMPLETED_WITH_CHANGE, COMPLETED_WITH_CHANGE),),
    STALE_VERSION: ((NEWEST_FIRST, NEWEST_FIRST), (PENDING_AFTER_COMPLETED, NEWEST_FIRST)),
    RESENT_VERSION: ((UPDATE_RESENT, FIRST_RESENT),),
}
#: The immutable fields a sample change touches: both pass the contract and the shop check unchanged.
CHANGED_PATHS = ("user_id", "event_timestamp")


def updates_in(chain: Chain) -> int:
    return sum(1 for step in chain if step.kind == STATUS_UPDATE)


def plan(rng: random.Random, counts: dict[str, int]) -> list[Chain]:
    """The chains that make exactly ``counts[status_update]`` updates and ``counts[kind]`` messages of each
    lifecycle kind of the invalid share (a chain of the invalid share spends one status update of the budget
    when it has one, else takes its variant without)."""
    budget = counts.get(STATUS_UPDATE, 0)
    chains: list[Chain] = []
    for kind in LIFECYCLE_INVALID_KINDS:
        variants = INVALID_CHAINS[kind]
        for i in range(counts.get(kind, 0)):
            chain, fallback = variants[i % len(variants)]
            if updates_in(chain) > budget:
                chain = fallback
            budget -= updates_in(chain)
            chains.append(chain)
    while budget > 0:
        chain = VALID_CHAINS.pick(rng.random())
        if updates_in(chain) > budget:
            chain = PENDING_COMPLETED
        budget -= updates_in(chain)
        chains.append(chain)
    rng.shuffle(chains)
    return chains


def _dumps(record: dict[str, Any]) -> str:
    return orjson.dumps(record).decode()


def with_status(record: dict[str, Any], status: str) -> dict[str, Any]:
    """A copy of a wire record with another ``transaction_status`` (the other fields equal)."""
    return {**record, "payment_details": {**record["payment_details"], "transaction_status": status}}


def _moved_timestamp(text: str, rng: random.Random) -> str:
    """Another second of the same minute (the same day: the FX rate and the partition stay)."""
    second = int(text[-3:-1])
    moved = second + rng.randrange(1, 30) if second < 30 else second - rng.randrange(1, 30)
    return f"{text[:-3]}{moved:02d}Z"


class Chains:
    """The chains of one generation run: each chain's first record is kept until its follow-ups are made."""

    def __init__(self, rng: random.Random, chains: list[Chain], user_ids: list[str]) -> None:
        self.rng = rng
        self.chains = chains
        self.user_ids = user_ids
        self._first: dict[int, dict[str, Any]] = {}
        self._versions: dict[int, int] = {}
        self._lines: dict[int, str] = {}

    def first(self, chain: int, record: dict[str, Any]) -> GeneratedRecord:
        """The chain's first message: the record with the chain's first status, stored as version 1."""
        step = self.chains[chain][0]
        record = with_status(record, step.status.value)
        self._first[chain] = record
        self._versions[chain] = 1
        self._lines[chain] = _dumps(record)
        return GeneratedRecord(self._lines[chain], record["transactionId"], VALID, version=1, phase=0)

    def follow_up(self, chain: int, index: int) -> GeneratedRecord:
        """Message ``index`` (>= 1) of the chain: the first record with the step's status, sent in phase
        ``index``; labelled with the version it is stored as or the rule that refuses it."""
        step = self.chains[chain][index]
        record = with_status(self._first[chain], step.status.value)
        tx_id = record["transactionId"]
        if step.kind == RESENT_VERSION:  # the very bytes of the message before it
            return GeneratedRecord(self._lines[chain], tx_id, step.kind, phase=index)
        if step.kind == STATUS_UPDATE:
            self._versions[chain] += 1
            self._lines[chain] = _dumps(record)
            return GeneratedRecord(self._lines[chain], tx_id, step.kind, version=self._versions[chain], phase=index)
        if step.kind == IMMUTABLE_CHANGE:
            path = self.rng.choice(CHANGED_PATHS)
            other = self.rng.choice(self.user_ids)
            if path == "user_id" and other != record["user_id"]:  # another player's purchase
                record["user_id"] = other
            else:
                path = "event_timestamp"
                record["event_timestamp"] = _moved_timestamp(record["event_timestamp"], self.rng)
            return GeneratedRecord(_dumps(record), tx_id, step.kind, path, rule=IMMUTABLE_FIELD, phase=index)
        if step.kind == ILLEGAL_MOVE:
            return GeneratedRecord(_dumps(record), tx_id, step.kind, STATUS_PATH, rule=MOVE_NOT_ALLOWED, phase=index)
        return GeneratedRecord(_dumps(record), tx_id, step.kind, phase=index)  # STALE_VERSION


__all__ = ["CHANGED_PATHS", "INVALID_CHAINS", "VALID_CHAINS", "Chain", "Chains", "Step", "plan", "with_status"]
