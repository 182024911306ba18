"""ProcessChunk's one pass over a chunk's records: each parsed once, accepted by the bulk shortcut or judged by
the contract, checked against the catalogue, and turned into its COPY line and its PII-free analytics line.
Pure: no I/O (the handler stores what it yields)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from contracts import MAX_TRANSACTION_BYTES, InvalidTransaction, Window, strip_pii, validate_transaction
from contracts.lifecycle import version_stamp
from lambdas.check_item.handler import check_purchase
from lambdas.common.dead_letters import dead_letter_message
from lambdas.common.enrich import BulkEnricher, Purchase, settle_first_purchase
from lambdas.common.errors import FxRateMissing, PipelineError
from lambdas.common.fast_contract import Accepted, Horizon, accept, from_transaction, wire_in_place

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
UNPARSED = object()


def escaped(value: str) -> str:
    """COPY text-format escaping, for the free-text fields (ids and enums are pattern-checked by the contract)."""
    return value.translate(_ESCAPES) if ("\\" in value or "\t" in value or "\n" in value or "\r" in value) else value


def chunk_lines(body: bytes) -> Iterator[str | bytes]:
    """The records of a chunk object: one a line (SplitFile writes them so), blank lines skipped.

    Lines end at ``\n`` only, as SplitFile split them: a record may hold U+2028 or U+0085 in a string,
    which ``str.splitlines`` would take for line ends. A line that is not UTF-8 stays bytes: the
    contract refuses it by name (``body.not_utf8``), never reads it with replacement characters."""
    for raw in io.BytesIO(body):
        data = raw.rstrip(b"\n")
        if not data.strip():
            continue
        try:
            yield data.decode("utf-8")
        except UnicodeDecodeError:
            yield data


def copy_line(tx: Accepted, amount: str, raw: str, ref: str) -> str:
    """The record's COPY line (text format): the contract's written compliance columns in their order
    (``contracts.compliance.WRITTEN``), the record as received in ``raw``. Built by hand for speed;
    tests/unit/test_process_chunk_rules.py checks it against ``contracts.compliance.compliance_row``."""
    return "\t".join(
        (
            tx.transaction_id, tx.user_id, escaped(tx.game), tx.item_id, tx.item_type, amount, tx.currency,
            tx.payment_method, tx.card_last4 or "\\N", tx.transaction_status, tx.gateway, tx.event_isoformat,
            tx.server_region, tx.client_ip, escaped(raw), ref,
        )
    )  # fmt: skip


def analytics_line(tx: Accepted, ingested_at: str, data: Any = None, enriched: dict[str, Any] | None = None) -> bytes:
    """``orjson.dumps(analytics_record(tx.wire(), ingested_at, enriched))``, from the accepted values (the contract's
    PII rule; the Enrich stage's fields after ``ingested_at``, ``is_first_purchase`` last).

    ``data``: the parsed record ``tx`` was accepted from, reused (and changed) to build it, if given."""
    record = strip_pii(tx.wire() if data is None else wire_in_place(data, tx), in_place=True)
    record["ingested_at"] = ingested_at
    if enriched:
        record.update(enriched)
    return orjson.dumps(record)


def purchase_of(tx: Accepted) -> Purchase:
    return Purchase(tx.transaction_id, tx.user_id, tx.item_id, tx.currency, tx.amount, tx.event_date, tx.client_ip)


class CatalogueCheck:
    """``check_purchase`` against one catalogue snapshot, each distinct purchase checked once.

    The verdict is a pure function of the catalogue item and (item, game, currency, amount as written),
    so it is kept per chunk: a chunk repeats the same few hundred purchases thousands of times."""

    def __init__(self, items: dict[str, dict[str, Any]]) -> None:
        self.items = items
        self._verdicts: dict[tuple[str, str, str, str], tuple[str, str] | None] = {}

    def rejection(self, tx: Accepted, amount: str) -> tuple[str, str] | None:
        """``None`` if the shop sells it so, else (error name, reason)."""
        key = (tx.item_id, tx.game, tx.currency, amount)
        try:
            return self._verdicts[key]
        except KeyError:
            pass
        verdict: tuple[str, str] | None = None
        try:
            check_purchase(self.items.get(tx.item_id), tx.item_id, tx.game, tx.currency, tx.amount)
        except PipelineError as exc:
            verdict = (type(exc).__name__, str(exc))
        self._verdicts[key] = verdict
        return verdict


#: A message of a transaction: (transaction id, status). One chunk holds each message once (a repeat is an
#: in-chunk duplicate); several messages of one transaction are its versions (contracts/lifecycle.py).
Message = tuple[str, str]


#: What a record adds to the real-time rollups, beside its analytics line (the same values the line carries:
#: ``game``, ``item_purchased.item_id``, ``event_timestamp``, ``amount_usd``): read without parsing the line again.
Fact = tuple[str, str, str, float | None]


@dataclass
class Day:
    """The analytics lines of one ``dt=`` day of a chunk, as the NDJSON body, their messages in order and each
    line's rollup fact."""

    keys: list[Message] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    facts: list[Fact] = field(default_factory=list)

    def add(self, key: Message, line: bytes, fact: Fact) -> None:
        self.keys.append(key)
        self.body += line  # copied: orjson's result holds a 4 KiB buffer whatever its length
        self.body += b"\n"
        self.facts.append(fact)

    def settle_first_purchases(self, first: set[str]) -> None:
        """Set each line's ``is_first_purchase`` (its transaction id in ``first``)."""
        lines = self.body.split(b"\n")[: len(self.keys)]
        self.body = bytearray(b"".join(settle_first_purchase(line, k[0] in first) + b"\n"
                                       for line, k in zip(lines, self.keys, strict=True)))  # fmt: skip

    def owned_body(self, owned: dict[Message, bytes]) -> tuple[int, bytes]:
        """(lines, NDJSON body) of the versions this chunk owns, each line with its version fields
        (``owned``: message -> ``stamp_tail`` of the version it is)."""
        out = bytearray()
        count = 0
        for line, key in zip(self.body.split(b"\n"), self.keys, strict=False):
            tail = owned.get(key)
            if tail is not None:
                out += line[:-1]  # the line's closing brace: the version fields follow its last key
                out += tail
                out += b"\n"
                count += 1
        return count, bytes(out)


def stamp_tail(version: int, previous_status: str | None, status_updated_at: str) -> bytes:
    """The version fields of an analytics line (``contracts.lifecycle.version_stamp``) as the end of its JSON
    object: ``,"version":..,"previous_status":..,"status_updated_at":..}``."""
    return b"," + orjson.dumps(version_stamp(version, previous_status, status_updated_at))[1:]


@dataclass
class Outcome:
    days: dict[str, Day] = field(default_factory=dict)  # dt= day -> the valid records' analytics lines
    valid: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    in_chunk_duplicates: int = 0
    oversize: list[tuple[int, bytes]] = field(default_factory=list)  # (record number in the chunk, the record)
    players: list[tuple[str, str, str]] = field(default_factory=list)  # (transaction id, player, event date)
    several: bool = False  # some transaction has more than one message (status) in the chunk

    def keep(self, tx: Accepted, line: bytes, amount_usd: float | None) -> None:
        """``line``: the record's analytics line; ``amount_usd``: the one it carries (the Enrich stage's)."""
        day = tx.event_date
        found = self.days.get(day)
        if found is None:
            found = self.days[day] = Day()
        found.add(
            (tx.transaction_id, tx.transaction_status), line, (tx.game, tx.item_id, tx.event_timestamp, amount_usd)
        )
        self.players.append((tx.transaction_id, tx.user_id, day))
        self.valid += 1

    def owned_players(self, owned: Iterable[Message]) -> list[tuple[str, str, str]]:
        """(transaction id, player, event date) of the transactions this batch owns a version of, in its order."""
        ids = {key[0] for key in owned}
        return [p for p in self.players if p[0] in ids]


def validated_lines(lines: Iterable[str | bytes], catalogue: CatalogueCheck, enricher: BulkEnricher, ref: str,
                    received: str, ingested: str, out: Outcome, window: Window,
                    numbers: list[int] | None = None) -> Iterator[str]:  # fmt: skip
    """The COPY line of every valid record, first time its message (transaction id, status) is seen; rejects and
    the rest go to ``out``.

    Each accepted record is enriched (``enricher``) before its PII-free analytics line is built; a record with no
    FX rate in force is dead-lettered as ``FxRateMissing`` (a redrive retries it once the rate is published).

    ``numbers``, if given, gets the record number (in the chunk, from 1) of each line yielded."""
    seen: dict[str, str] = {}  # transaction id -> its first status in the chunk
    more: set[Message] = set()  # the other messages of a transaction (its later statuses), rare
    loads = orjson.loads
    horizon = Horizon.of(window)
    for number, raw in enumerate(lines, start=1):
        # bytes, not characters (a UTF-8 character is up to 4 bytes); encoded only when it could be over
        if len(raw) * 4 > MAX_TRANSACTION_BYTES and len(as_bytes(raw)) > MAX_TRANSACTION_BYTES:
            out.oversize.append((number, as_bytes(raw)))  # quarantined alone after the load, never parsed
            continue
        data: Any = UNPARSED
        if isinstance(raw, str):
            with contextlib.suppress(orjson.JSONDecodeError):
                data = loads(raw)
        tx = accept(data, raw, horizon) if data is not UNPARSED and isinstance(raw, str) else None
        fast = tx is not None
        if tx is None:  # not the common shape: the contract decides, and words any rejection
            try:
                tx = from_transaction(validate_transaction(raw, window=window))
            except InvalidTransaction as exc:
                shown = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")  # as received, readable
                fields = {"fields": exc.fields()}
                out.rejected.append(dead_letter_message(shown, exc.transaction_id, "InvalidTransaction", str(exc),
                                                        received, "ProcessChunk", detail=fields))  # fmt: skip
                continue
        assert isinstance(raw, str)  # the contract accepted it: it is text
        amount = str(tx.amount)
        rejection = catalogue.rejection(tx, amount)
        if rejection is not None:
            transaction = data if data is not UNPARSED else loads(raw)
            out.rejected.append(dead_letter_message(transaction, tx.transaction_id, rejection[0], rejection[1],
                                                    received, "ProcessChunk"))  # fmt: skip
            continue
        try:
            enriched = enricher.fields(purchase_of(tx))
        except FxRateMissing as exc:
            transaction = data if data is not UNPARSED else loads(raw)
            out.rejected.append(dead_letter_message(transaction, tx.transaction_id, "FxRateMissing", str(exc),
                                                    received, "ProcessChunk"))  # fmt: skip
            continue
        first_status = seen.get(tx.transaction_id)
        if first_status is None:
            seen[tx.transaction_id] = tx.transaction_status
        elif first_status == tx.transaction_status or (tx.transaction_id, tx.transaction_status) in more:
            out.in_chunk_duplicates += 1  # the same message again: harmless
            continue
        else:  # another status of the transaction: a version, decided when the chunk is stored
            more.add((tx.transaction_id, tx.transaction_status))
            out.several = True
        out.keep(tx, analytics_line(tx, ingested, data if fast else None, enriched), enriched["amount_usd"])
        if numbers is not None:
            numbers.append(number)
        yield copy_line(tx, amount, raw, ref)


def as_bytes(raw: str | bytes) -> bytes:
    return raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
