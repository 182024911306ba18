"""Status updates in ``make run`` (``mtx demo``): send in phases, count messages by outcome, show gross vs net.

The generator labels every message with what the pipeline must do with it (``GeneratedRecord.outcome``:
stored as version n, harmless (a duplicate or a stale version), or dead-lettered, a lifecycle refusal with its
rule) and with its ``phase``: a follow-up (a status update, an out-of-order older status, a re-send) is sent only
once the message it follows was settled, so each phase is sent and waited for before the next. An
out-of-order case is sent newest first on purpose: its older status is the later phase.

The audit compares, per entrance, what the labels say with what the stores hold: messages stored as versions
(rows of ``compliance.transaction_versions`` the entrance wrote), harmless ones, dead letters (and the lifecycle
rules among them). After the analytics refresh, gross, refunded and net revenue are read from the warehouse
mart (``fct_hourly_revenue``) and from the real-time aggregates (the analytics API's ``realtime_revenue``);
either may be absent in an older stack, and the printout says so instead of failing.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from contracts.lifecycle import IMMUTABLE_FIELD, MOVE_NOT_ALLOWED, PURCHASED, REVERSED
from contracts.transaction import TransactionStatus
from orchestration.sample_data.records import DEAD_LETTERED, HARMLESS, STORED, GeneratedRecord

#: The lifecycle's dead-letter rules (contracts.lifecycle).
LIFECYCLE_RULES = (MOVE_NOT_ALLOWED, IMMUTABLE_FIELD)
#: The revenue figures shown, in order.
FIGURES = ("purchases", "gross_usd", "refunded_usd", "net_usd")
_ALIASES = {"purchase_count": "purchases", "purchases": "purchases", "gross_usd": "gross_usd",
            "refunded_usd": "refunded_usd", "net_usd": "net_usd"}  # fmt: skip
#: The widest hour range one realtime_revenue call reads (the operation's limit: 31 days of hours).
HOURS_PER_CALL = 31 * 24


def phases(records: Sequence[GeneratedRecord]) -> list[list[GeneratedRecord]]:
    """The records per phase, in phase order (each list in generation order); no empty phase."""
    by_phase: dict[int, list[GeneratedRecord]] = {}
    for record in records:
        by_phase.setdefault(record.phase, []).append(record)
    return [by_phase[p] for p in sorted(by_phase)]


@dataclass
class Expected:
    """What the generator's labels say a set of messages must become."""

    sent: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # stored / harmless / dead_lettered
    versions: Counter[int] = field(default_factory=Counter)  # version number -> messages stored as it
    rules: Counter[str] = field(default_factory=Counter)  # lifecycle rules among the dead letters
    letters_per_id: Counter[str] = field(default_factory=Counter)  # transaction id -> dead letters
    final_status: dict[str, str] = field(default_factory=dict)  # transaction id -> its last stored status
    games: set[str] = field(default_factory=set)  # games of the stored messages
    events: tuple[str, str] | None = None  # first and last event_timestamp of the stored messages

    @property
    def transactions(self) -> int:
        """Transactions stored (one current row each)."""
        return len(self.final_status)

    def revenue_counts(self) -> dict[str, int]:
        """Purchases (completed, refunded, charged back) and reversed ones (refunded, charged back) among the
        stored transactions' last statuses: what the marts' purchase counts must show for this data."""
        statuses = [TransactionStatus(s) for s in self.final_status.values()]
        return {"purchases": sum(1 for s in statuses if s in PURCHASED),
                "refunded": sum(1 for s in statuses if s in REVERSED)}  # fmt: skip


def expected(records: Iterable[GeneratedRecord]) -> Expected:
    out = Expected()
    for record in records:
        out.sent += 1
        out.outcomes[record.outcome] += 1
        if record.outcome == STORED:
            out.versions[record.version or 1] += 1
            wire = json.loads(record.line)
            if record.transaction_id is not None:
                # a transaction's stored versions come in generation order, each later one a higher version
                previous = out.final_status.get(record.transaction_id)
                if previous is None or (record.version or 1) > 1:
                    out.final_status[record.transaction_id] = wire["payment_details"]["transaction_status"]
            out.games.add(wire["game"])
            at = wire["event_timestamp"]
            out.events = (min(out.events[0], at), max(out.events[1], at)) if out.events else (at, at)
        elif record.outcome == DEAD_LETTERED:
            if record.rule:
                out.rules[record.rule] += 1
            if record.transaction_id is not None:
                out.letters_per_id[record.transaction_id] += 1
    return out


def letter_rule(reason: str, body: dict[str, Any]) -> str | None:
    """The lifecycle rule a dead letter names (in its reason or anywhere in its body), None for other letters."""
    text = reason + " " + json.dumps(body, default=str)
    return next((rule for rule in LIFECYCLE_RULES if rule in text), None)


@dataclass
class Observed:
    """What one entrance's stores hold for the messages it was sent."""

    sent: int
    stored: int  # messages the entrance reports stored as a version (API: executions; stream: versions)
    harmless: int
    dead_lettered: int
    versions: Counter[int]  # rows of compliance.transaction_versions it wrote, per version number
    rules: Counter[str]
    letters_per_id: Counter[str]


def audit(want: Expected, got: Observed) -> list[tuple[str, Any, Any, bool]]:
    """(what, expected, found, equal) per check: messages by outcome, versions by number, lifecycle rules, and
    dead letters per transaction id (none for a transaction whose messages must all be stored or harmless)."""
    checks: list[tuple[str, Any, Any, bool]] = [
        ("sent", want.sent, got.sent, want.sent == got.sent),
        ("stored as a version", want.outcomes[STORED], got.stored, want.outcomes[STORED] == got.stored),
        ("harmless (duplicate or stale)", want.outcomes[HARMLESS], got.harmless,
         want.outcomes[HARMLESS] == got.harmless),
        ("dead-lettered", want.outcomes[DEAD_LETTERED], got.dead_lettered,
         want.outcomes[DEAD_LETTERED] == got.dead_lettered),
    ]  # fmt: skip
    want_versions, got_versions = dict(sorted(want.versions.items())), dict(sorted(got.versions.items()))
    checks.append(("versions (transaction_versions)", want_versions, got_versions, want_versions == got_versions))
    want_rules = {r: want.rules[r] for r in LIFECYCLE_RULES}
    got_rules = {r: got.rules[r] for r in LIFECYCLE_RULES}
    checks.append(("lifecycle refusals by rule", want_rules, got_rules, want_rules == got_rules))
    ids = set(want.letters_per_id) | set(got.letters_per_id)
    wrong = sum(abs(want.letters_per_id[i] - got.letters_per_id[i]) for i in ids)
    checks.append(("dead letters not where expected", 0, wrong, wrong == 0))
    return checks


def audit_rows(checks: Sequence[tuple[str, Any, Any, bool]]) -> list[tuple[str, Any]]:
    return [(what, f"{found}   (expected {want}){'' if ok else '   MISMATCH'}") for what, want, found, ok in checks]


_STREAM_VERSIONS = (
    "select version, count(*) from compliance.transaction_versions"
    " where execution_id like 'stream:%%' and transaction_id = any(%s) group by version"
)
_API_VERSIONS = (
    "select version, count(*) from compliance.transaction_versions"
    " where coalesce(execution_id, '') not like 'stream:%%' and transaction_id = any(%s) group by version"
)


def versions_written(dsn: str, *, stream: bool, ids: Sequence[str]) -> Counter[int]:
    """Rows of compliance.transaction_versions written by the stream (``stream:`` owners) or by the API path
    (every other owner), among ``ids``; per version number."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows = conn.execute(_STREAM_VERSIONS if stream else _API_VERSIONS, (sorted(ids),)).fetchall()
    return Counter({int(v): int(n) for v, n in rows})


# ------------------------------------------------------------------------------------------- gross vs net


def totals(result: Any) -> dict[str, Decimal] | None:
    """Purchases, gross, refunded and net from an answer of the marts or the real-time aggregates: its top-level
    figures, its ``totals``, or the sum of its ``rows`` (None: no such figures in it)."""
    if not isinstance(result, dict):
        return None
    for candidate in (result, result.get("totals")):
        if isinstance(candidate, dict):
            found = {_ALIASES[k]: Decimal(str(v)) for k, v in candidate.items() if k in _ALIASES and v is not None}
            if {"gross_usd", "net_usd"} <= set(found):
                return found
    rows = result.get("rows")
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        summed: dict[str, Decimal] = {}
        for row in rows:
            for k, v in row.items():
                if k in _ALIASES and v is not None:
                    summed[_ALIASES[k]] = summed.get(_ALIASES[k], Decimal(0)) + Decimal(str(v))
        if {"gross_usd", "net_usd"} <= set(summed):
            return summed
    return None


def mart_revenue(dsn: str, schema: str = "analytics") -> tuple[dict[str, Decimal] | None, str]:
    """Gross, refunded and net USD (and purchases) over the whole ``fct_hourly_revenue`` mart; (None, why) when
    the warehouse has no such mart or columns yet."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn) as conn:
        columns = {
            str(c)
            for (c,) in conn.execute(
                "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
                (schema, "fct_hourly_revenue"),
            ).fetchall()
        }
        if not columns:
            return None, f"the warehouse has no {schema}.fct_hourly_revenue mart (not in this version)"
        wanted = [c for c in ("purchase_count", "gross_usd", "refunded_usd", "net_usd") if c in columns]
        if not {"gross_usd", "net_usd"} <= set(wanted):
            return None, f"{schema}.fct_hourly_revenue has no gross_usd / net_usd columns"
        query = sql.SQL("select {} from {}.{}").format(
            sql.SQL(", ").join(sql.SQL("coalesce(sum({}), 0)").format(sql.Identifier(c)) for c in wanted),
            sql.Identifier(schema), sql.Identifier("fct_hourly_revenue"),
        )  # fmt: skip
        row = conn.execute(query).fetchone()
    assert row is not None  # an aggregate always answers one row
    return {_ALIASES[c]: Decimal(str(v)) for c, v in zip(wanted, row, strict=True)}, f"{schema}.fct_hourly_revenue"


Getter = Callable[[str], tuple[int, Any]]


def hour_windows(first_event: str, last_event: str, size: int = HOURS_PER_CALL) -> list[tuple[str, str]]:
    """(from_hour, to_hour) ranges, UTC ``YYYY-MM-DDTHH``, of at most ``size`` hours each, that cover the hours of
    two event timestamps (``...Z``), in order."""
    first = dt.datetime.fromisoformat(first_event.replace("Z", "+00:00")).replace(minute=0, second=0, microsecond=0)
    last = dt.datetime.fromisoformat(last_event.replace("Z", "+00:00")).replace(minute=0, second=0, microsecond=0)
    out = []
    while first <= last:
        end = min(first + dt.timedelta(hours=size - 1), last)
        out.append((first.strftime("%Y-%m-%dT%H"), end.strftime("%Y-%m-%dT%H")))
        first = end + dt.timedelta(hours=1)
    return out


def realtime_revenue(get: Getter, want: Expected) -> tuple[dict[str, Decimal] | None, str]:
    """The real-time aggregates' totals over the games and hours of the stored messages, through
    ``GET /analytics?operation=realtime_revenue&game=..&from_hour=..&to_hour=..`` (``get(query)`` -> (HTTP status,
    JSON body)), summed; (None, why) when the API has no such operation or an answer holds no figures."""
    if not want.games or want.events is None:
        return None, "nothing stored to read"
    windows = hour_windows(*want.events)
    summed: dict[str, Decimal] = {}
    for game in sorted(want.games):
        for first, last in windows:
            query = {"operation": "realtime_revenue", "game": game, "from_hour": first, "to_hour": last}
            status, body = get(urllib.parse.urlencode(query))
            if status != 200:
                unknown = "operation.unknown" in json.dumps(body, default=str)
                why = "has no realtime_revenue operation here" if unknown else "refused a realtime_revenue call"
                return None, f"the analytics API {why} (HTTP {status})"
            found = totals(body.get("result", body)) if isinstance(body, dict) else None
            if found is None:
                return None, "realtime_revenue answered without totals"
            for k, v in found.items():
                summed[k] = summed.get(k, Decimal(0)) + v
    calls = len(want.games) * len(windows)
    return summed, f"realtime_revenue, {calls} calls: {len(want.games)} games x {len(windows)} ranges of hours"


def http_getter(base_url: str, headers: dict[str, str]) -> Getter:
    def get(query: str) -> tuple[int, Any]:
        request = urllib.request.Request(f"{base_url}/analytics?{query}", headers=headers)  # noqa: S310 - local API
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 - the local API
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read() or b"{}")
            except ValueError:
                return exc.code, {}

    return get


def revenue_rows(
    mart: tuple[dict[str, Decimal] | None, str],
    realtime: tuple[dict[str, Decimal] | None, str],
    want: Expected,
) -> list[tuple[str, Any]]:
    """The gross-vs-net lines: the mart's figures, the real-time aggregates' (and whether they agree), and
    the purchase and refund counts the generated data must give."""
    rows: list[tuple[str, Any]] = []
    counts = want.revenue_counts()
    for name, (figures, source) in (("warehouse mart", mart), ("real-time aggregates", realtime)):
        if figures is None:
            rows.append((name, f"not available: {source}"))
            continue
        purchases = figures.get("purchases")
        rows.append((name, f"gross {_usd(figures.get('gross_usd'))}, refunded {_usd(figures.get('refunded_usd'))},"
                           f" net {_usd(figures.get('net_usd'))}"
                           + (f"; {int(purchases)} purchases" if purchases is not None else "")
                           + f"   ({source})"))  # fmt: skip
    if mart[0] is not None and realtime[0] is not None:
        same = all(mart[0].get(k) == realtime[0].get(k) for k in FIGURES if k in mart[0] and k in realtime[0])
        rows.append(("mart vs real-time", "equal" if same else "DIFFERENT"))
    rows.append(("generated (this run)", f"{counts['purchases']} purchases stored, {counts['refunded']} of them"
                                         " refunded or charged back"))  # fmt: skip
    return rows


def _usd(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f} USD"
