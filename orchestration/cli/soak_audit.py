"""The soak's audit: every store read back, each record checked against the fate the generator gave it.

Every valid transaction stored exactly once in the compliance store and once in the analytics copy,
every invalid one dead-lettered exactly once with a reason, every poison record quarantined or
dead-lettered alone, nothing left PENDING (:func:`audit`, into a :class:`SoakReport`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from contracts.lifecycle import split_message_key
from orchestration.cli import dlq
from orchestration.runtime.ingest import Clients
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.records import DUPLICATE, VALID, GeneratedRecord


@dataclass
class SoakReport:
    sent: int = 0
    stored: int = 0
    dead_lettered: int = 0
    quarantined: int = 0
    lost: int = 0
    duplicated: int = 0
    valid_dead_lettered: int = 0
    pending: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    producer_retries: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def faults_injected(self) -> int:
        return sum(self.faults.values())

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.valid_dead_lettered == 0 and self.pending == 0

    def line(self) -> str:
        return (
            f"soak: sent {self.sent}, stored {self.stored}, dead-lettered {self.dead_lettered}, "
            f"quarantined {self.quarantined}, lost {self.lost}, duplicated {self.duplicated}, "
            f"valid dead-lettered {self.valid_dead_lettered}, faults injected {self.faults_injected}"
        )


@dataclass(frozen=True)
class Poison:
    line: bytes
    transaction_id: str
    kind: str  # oversize | deep | not_utf8 | escapes (stored: COPY must carry it unchanged)

    @property
    def stored(self) -> bool:
        return self.kind == "escapes"


# ---------------------------------------------------------------------------- the audit
def _quarantined(letter: dlq.DeadLetter) -> bool:
    tx = letter.body.get("transaction")
    return isinstance(tx, dict) and "quarantined_at" in tx


def _analytics_ids(clients: Clients, bucket: str) -> Counter[str]:
    """How many analytics copies each transaction VERSION has: one object per version (``<id>.json`` is
    version 1, ``<id>.v<n>.json`` version n) or one line per version in a batch file. Counted per version, so a
    status update (a second version, stored by design) is never a duplicate; a version written twice is."""
    s3 = clients("s3")
    per_version: Counter[tuple[str, int]] = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="transactions/"):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            name = key.rsplit("/", 1)[1]
            if name.endswith(".json") and "batch-" not in name:  # one transaction version per object: the name
                stem = name.removesuffix(".json")
                tx_id, dot_v, number = stem.rpartition(".v")
                if dot_v and number.isdigit():
                    per_version[(tx_id, int(number))] += 1
                else:
                    per_version[(stem, 1)] += 1
                continue
            for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines():
                if line.strip():
                    record = json.loads(line)
                    per_version[(record["transactionId"], int(record.get("version") or 1))] += 1
    seen: Counter[str] = Counter()
    for (tx_id, _version), n in per_version.items():
        seen[tx_id] = max(seen[tx_id], n)  # the most copies any one version of it has
    return seen


def audit(
    stack: LocalStack,
    clients: Clients,
    records: list[GeneratedRecord],
    statuses: list[int],
    arns: list[str | None],
    batch_records: list[GeneratedRecord],
    poison: list[Poison],
    run: dict[str, Any],
    running: Iterable[str],
) -> SoakReport:
    import psycopg

    s = stack.require_settings()
    valid = {r.transaction_id for r in [*records, *batch_records] if r.kind == VALID and r.transaction_id}
    valid |= {p.transaction_id for p in poison if p.stored}
    invalid_http = [r for r in records if r.kind not in (VALID, DUPLICATE)]
    invalid_batch = [r for r in batch_records if r.kind not in (VALID, DUPLICATE)]
    invalid_ids: set[str] = {r.transaction_id for r in [*invalid_http, *invalid_batch] if r.transaction_id}
    quarantine_ids = {p.transaction_id for p in poison if not p.stored}
    all_ids = valid | invalid_ids | quarantine_ids

    with psycopg.connect(stack.dsn("compliance")) as conn:
        rows = conn.execute(
            "select transaction_id, count(*) from compliance.transactions where transaction_id = any(%s)"
            " group by transaction_id",
            (list(all_ids),),
        ).fetchall()
    compliance = Counter({r[0]: int(r[1]) for r in rows})
    analytics = _analytics_ids(clients, s.analytics_bucket)
    letters = dlq.list_dead_letters(clients, stack.dead_letter_queue_url)
    letter_ids = Counter(i for i in (dlq.letter_transaction_id(d) for d in letters) if i)
    anonymous = sum(1 for d in letters if dlq.letter_transaction_id(d) is None)
    pointers = [d for d in letters if _quarantined(d)]

    # what could not carry an id into a letter: malformed JSON over HTTP, unparseable poison lines
    anonymous_expected = sum(1 for r in [*invalid_http, *invalid_batch] if r.transaction_id is None)
    lettered_poison = {p.transaction_id for p in poison if not p.stored and p.transaction_id in letter_ids}
    anonymous_expected += len(quarantine_ids) - len(lettered_poison)

    problems: dict[str, list[str]] = {
        "not_stored": sorted(i for i in valid if compliance[i] == 0),
        "no_analytics_copy": sorted(i for i in valid if analytics[i] == 0),
        "not_dead_lettered": sorted(i for i in invalid_ids if letter_ids[i] == 0),
        "stored_twice": sorted(i for i, n in compliance.items() if n > 1),
        # this run's transactions only: the bucket also holds what other runs against the same stack stored
        "analytics_twice": sorted(i for i in all_ids if analytics[i] > 1),
        "dead_lettered_twice": sorted(i for i in all_ids if letter_ids[i] > 1),
        "stored_but_invalid": sorted(i for i in invalid_ids | quarantine_ids if compliance[i] or analytics[i]),
        "no_answer": [str(i) for i, st in enumerate(statuses) if st not in (202, 400)],
    }
    lost = sum(len(problems[k]) for k in ("not_stored", "no_analytics_copy", "not_dead_lettered", "no_answer"))
    lost += max(0, anonymous_expected - anonymous) + len(problems["stored_but_invalid"])
    duplicated = sum(compliance[i] - 1 for i in problems["stored_twice"])
    duplicated += sum(analytics[i] - 1 for i in problems["analytics_twice"])
    duplicated += sum(letter_ids[i] - 1 for i in problems["dead_lettered_twice"])
    duplicated += max(0, anonymous - anonymous_expected)
    pending_ids = _pending(clients, s.execution_status_table, all_ids)
    problems["pending"] = pending_ids
    pending = len(pending_ids)
    arn_of = {r.transaction_id: a for r, a in zip(records, arns, strict=True) if r.transaction_id and a}
    trails = {i: _trail(clients, arn_of[i]) for k in ("not_stored", "pending", "stored_twice", "analytics_twice",
                                                    "dead_lettered_twice") for i in problems.get(k, [])[:5]
              if i in arn_of}  # fmt: skip
    report = SoakReport(
        sent=len(records) + len(batch_records) + len(poison),
        stored=len([i for i in valid if compliance[i]]),
        dead_lettered=len(letters) - len(pointers),
        quarantined=len(pointers),
        lost=lost,
        duplicated=duplicated,
        valid_dead_lettered=len(valid & set(letter_ids)),
        pending=pending + len(list(running)),
    )
    report.details.update(
        expected_stored=len(valid),
        expected_dead_lettered=len(invalid_ids) + anonymous_expected - (len(quarantine_ids) - len(lettered_poison)),
        dead_letters_by_reason=dict(dlq.summarise(letters)),
        pending=pending,
        problems={k: v[:10] for k, v in problems.items() if v},
        trails=trails,
        anonymous_letters=dict(
            Counter(f"{d.error}: {d.reason[:80]}" for d in letters if dlq.letter_transaction_id(d) is None)
        ),
        http_statuses=dict(Counter(statuses)),
    )
    return report


def _trail(clients: Clients, arn: str) -> list[str]:
    """What an execution did, value-free: each state entered, each failure's error name."""
    sfn = clients("stepfunctions")
    out: list[str] = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        for e in page["events"]:
            kind = e["type"]
            if kind.endswith("StateEntered"):
                out.append(e["stateEnteredEventDetails"]["name"])
            elif kind.endswith("Failed") or kind.endswith("TimedOut"):
                details: dict[str, Any] = next((v for k, v in e.items() if k.endswith("EventDetails")), {})
                out.append(f"{kind}({details.get('error', '?')})")
        if not page.get("nextToken"):
            return out
        kwargs["nextToken"] = page["nextToken"]


def _pending(clients: Clients, table: str, ids: set[str]) -> list[str]:
    """Transaction ids of ``ids`` with a message still PENDING (items are keyed by message key, id/status)."""
    found = []
    for page in clients("dynamodb").get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            tx_id, _ = split_message_key(item.get("transaction_id", {}).get("S", ""))
            if tx_id in ids and item.get("status", {}).get("S") == "PENDING":
                found.append(tx_id)
    return sorted(found)
