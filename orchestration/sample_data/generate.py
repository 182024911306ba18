"""Seeded, reproducible sample transactions in the contract's wire format (NDJSON).

``mtx generate --count N --seed S --invalid-share F --duplicate-share F --lifecycle-share F --out PATH|-``

Valid records look like ``Transaction.to_json_dict()`` output (the shape of the product brief's example,
amounts as JSON numbers, UTC timestamps ending in ``Z``) and are priced from
:mod:`orchestration.sample_data.catalogue`; players, items, payment methods and the time axis come
from the simulated world of :mod:`orchestration.sample_data.world`. Event timestamps are in time order
over ``[start, end)`` (default: the 90 days before 2026-11-01).

Besides valid records, a configurable share of labelled bad records
(:data:`INVALID_KINDS`, split evenly) and of duplicates (exact re-sends of an
earlier valid record, same ``transactionId``), made by :mod:`orchestration.sample_data.mutations`.

With ``lifecycle_share`` > 0, that share of the records are status updates of earlier transactions (pending
-> completed | failed, completed -> refunded | chargeback) and the invalid share also holds the lifecycle kinds
(illegal moves, immutable-field changes, out-of-order versions, exact re-sends of an update), made by
:mod:`orchestration.sample_data.lifecycle`. Every record says what the pipeline must do with it
(:attr:`GeneratedRecord.outcome`, ``version``, ``rule``) and from which ``phase`` on it may be sent: a
follow-up is meant to be sent once the message it follows was settled (``mtx demo`` sends phase by phase).

Speed: lines are built from pre-computed parts with orjson (no pydantic per record).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from bisect import bisect
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, timedelta
from os import PathLike
from pathlib import Path
from typing import IO, Any

import orjson
from rich.console import Console
from rich.table import Table

from contracts.transaction import CARD_METHODS
from orchestration.sample_data import lifecycle
from orchestration.sample_data.mutations import Mutator
from orchestration.sample_data.records import (
    ALL_KINDS,
    CATALOGUE_KINDS,
    CONTRACT_KINDS,
    DUPLICATE,
    INVALID_KINDS,
    KINDS,
    LIFECYCLE_INVALID_KINDS,
    LIFECYCLE_KINDS,
    STATUS_UPDATE,
    VALID,
    GeneratedRecord,
)
from orchestration.sample_data.world import GAME_POPULARITY, METHOD_GATEWAYS, STATUSES, World

DEFAULT_END = date(2026, 11, 1)
DEFAULT_DAYS = 90


# ----------------------------------------------------------------------- generator

_RECENT = 512  # duplicates re-send one of the last _RECENT valid records
_UUID4_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID4_BITS = (0x4 << 76) | (0x2 << 62)


def _plan(n: int, invalid_share: float, duplicate_share: float, lifecycle_share: float = 0.0) -> dict[str, int]:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    shares = (("invalid_share", invalid_share), ("duplicate_share", duplicate_share),
              ("lifecycle_share", lifecycle_share))  # fmt: skip
    for name, share in shares:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {share}")
    if invalid_share + duplicate_share + lifecycle_share > 1.0:
        raise ValueError("invalid_share + duplicate_share + lifecycle_share must be at most 1")
    n_invalid = round(n * invalid_share)
    n_duplicate = min(round(n * duplicate_share), n - n_invalid)
    if n_duplicate and n_invalid + n_duplicate >= n:
        raise ValueError("duplicates need at least one valid record to re-send")
    invalid_kinds = INVALID_KINDS + (LIFECYCLE_INVALID_KINDS if lifecycle_share > 0 else ())
    counts = dict.fromkeys(invalid_kinds, n_invalid // len(invalid_kinds))
    for kind in invalid_kinds[: n_invalid % len(invalid_kinds)]:
        counts[kind] += 1
    counts[DUPLICATE] = n_duplicate
    if lifecycle_share > 0:
        counts[STATUS_UPDATE] = min(round(n * lifecycle_share), n - n_invalid - n_duplicate)
    counts[VALID] = n - n_invalid - n_duplicate - counts.get(STATUS_UPDATE, 0)
    # each chain starts with a valid record and holds at least one update or one lifecycle kind of the invalid share
    at_most = counts.get(STATUS_UPDATE, 0) + sum(counts.get(kind, 0) for kind in LIFECYCLE_INVALID_KINDS)
    if at_most > counts[VALID] - (1 if n_duplicate else 0):
        raise ValueError("lifecycle_share and the invalid share need more valid records to follow up")
    return counts


def _date_range(start: date | None, end: date | None) -> tuple[date, date]:
    if end is None:
        end = start + timedelta(days=DEFAULT_DAYS) if start is not None else DEFAULT_END
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise ValueError(f"start {start} must be before end {end}")
    return start, end


def generate(
    n: int,
    *,
    seed: int = 42,
    invalid_share: float = 0.05,
    duplicate_share: float = 0.01,
    start: date | None = None,
    end: date | None = None,
    lifecycle_share: float = 0.0,
) -> Iterator[GeneratedRecord]:
    """Exactly ``n`` records, reproducible for a seed, event times in ``[start, end)`` UTC.

    ``invalid_share`` of them are bad records split evenly over :data:`INVALID_KINDS` (and, with
    ``lifecycle_share`` > 0, the lifecycle kinds of the invalid share); ``duplicate_share`` are exact re-sends of
    an earlier valid record; ``lifecycle_share`` are status updates of earlier valid records (each chain's
    first message is one of the valid records); the rest are valid.
    """
    counts = _plan(n, invalid_share, duplicate_share, lifecycle_share)
    first, last = _date_range(start, end)
    return _generate(n, seed, counts, first, last)


def _generate(n: int, seed: int, counts: dict[str, int], start: date, end: date) -> Iterator[GeneratedRecord]:
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data, not a secret
    world = World(rng, n, start, end)
    mutator = Mutator(rng, world)

    # Which positions hold which non-valid kind (record 0 is valid when duplicates exist).
    kinds = [kind for kind in (*INVALID_KINDS, DUPLICATE) for _ in range(counts[kind])]
    rng.shuffle(kinds)
    low = 1 if counts[DUPLICATE] else 0
    # The lifecycle's chains: one position per message, in order within a chain (a follow-up after its first).
    chains = lifecycle.plan(rng, counts) if STATUS_UPDATE in counts else []
    steps = sum(len(chain) for chain in chains)
    positions = rng.sample(range(low, n), len(kinds) + steps) if kinds or steps else []
    special = dict(zip(positions[: len(kinds)], kinds, strict=True))
    slot: dict[int, tuple[int, int]] = {}  # position -> (chain, message of the chain)
    rest = iter(positions[len(kinds) :])
    for c, chain in enumerate(chains):
        for index, position in enumerate(sorted(next(rest) for _ in chain)):
            slot[position] = (c, index)
    lives = lifecycle.Chains(rng, chains, world.user_id)

    rnd = rng.random
    getrandbits = rng.getrandbits
    dumps = orjson.dumps
    step, hour_start, hour_load, last_hour = world.step, world.hour_start, world.hour_load, world.last_hour
    day_prefix, hms = world.day_prefix, world.hms
    user_cum = world.user_cum
    user_total = user_cum[-1]
    user_hi = len(user_cum) - 1
    user_id, whale, region, currency = world.user_id, world.whale, world.region, world.currency
    method, last4, home_ip, ip_first = world.method, world.last4, world.ip, world.ip_first
    favourite, games, game_items, item_wire = world.favourite, world.games, world.game_items, world.item_wire
    method_choice = world.method_choice
    game_pick = GAME_POPULARITY.pick
    status_pick = STATUSES.pick
    gateway_pick = {m.value: picker.pick for m, picker in METHOD_GATEWAYS.items()}
    card_methods = {m.value for m in CARD_METHODS}
    game_index = world.game_index
    recent: list[GeneratedRecord] = []

    for i in range(n):
        kind = special.get(i, VALID)
        # Event time: quantile (i + r) / n of the load curve, so the stream is in time order.
        q = (i + rnd()) * step
        hour = min(bisect(hour_start, q) - 1, last_hour)
        second = int((q - hour_start[hour]) / hour_load[hour] * 3600.0)
        event_timestamp = day_prefix[hour // 24] + hms[(hour % 24) * 3600 + min(max(second, 0), 3599)]
        if kind == DUPLICATE:
            original = recent[int(rnd() * len(recent))]
            yield GeneratedRecord(original.line, original.transaction_id, DUPLICATE)
            continue
        message = slot.get(i)
        if message is not None and message[1] > 0:
            yield lives.follow_up(*message)
            continue

        u = bisect(user_cum, rnd() * user_total, 0, user_hi)
        g = favourite[u] if rnd() < 0.7 else game_index[game_pick(rnd())]
        item = game_items[g][whale[u]].pick(rnd())
        cur = currency[u]
        pm = method[u] if rnd() < 0.88 else method_choice[region[u]].pick(rnd()).value
        if pm in card_methods:
            payment = {
                "payment_method": pm,
                "card_last4": last4[u],
                "transaction_status": status_pick(rnd()).value,
                "gateway": gateway_pick[pm](rnd()).value,
            }
        else:
            payment = {
                "payment_method": pm,
                "transaction_status": status_pick(rnd()).value,
                "gateway": gateway_pick[pm](rnd()).value,
            }
        if rnd() < 0.1:  # on the move: another address in the same region
            b = getrandbits(24)
            ip = f"{ip_first[u][b % len(ip_first[u])]}.{(b >> 8) & 255}.{b >> 16}.{(b & 127) + 2}"
        else:
            ip = home_ip[u]
        h = f"{getrandbits(128) & _UUID4_MASK | _UUID4_BITS:032x}"  # a random (version 4) UUID
        tx_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        record = {
            "transactionId": tx_id,
            "user_id": user_id[u],
            "game": games[g],
            "item_purchased": item_wire[item][cur],
            "payment_details": payment,
            "event_timestamp": event_timestamp,
            "server_region": region[u],
            "client_ip": ip,
        }
        if message is not None:  # the first message of a chain (never re-sent as a plain duplicate)
            yield lives.first(message[0], record)
        elif kind == VALID:
            generated = GeneratedRecord(dumps(record).decode(), tx_id, VALID, version=1)
            if len(recent) < _RECENT:
                recent.append(generated)
            else:
                recent[i % _RECENT] = generated
            yield generated
        else:
            yield mutator.make(kind, record, item, cur)


# -------------------------------------------------------------------------- output

_BATCH = 4096


def _write(stream: IO[str], records: Iterable[GeneratedRecord]) -> Counter[str]:
    counts: Counter[str] = Counter()
    batch: list[str] = []
    kinds: list[str] = []
    for record in records:
        batch.append(record.line)
        kinds.append(record.kind)
        if len(batch) == _BATCH:
            batch.append("")
            stream.write("\n".join(batch))
            counts.update(kinds)
            batch.clear()
            kinds.clear()
    if batch:
        batch.append("")
        stream.write("\n".join(batch))
        counts.update(kinds)
    return counts


def write_ndjson(path: str | PathLike[str], n: int, **kw: Any) -> Counter[str]:
    """Stream ``generate(n, **kw)`` to an NDJSON file; return the number of records per kind."""
    records = generate(n, **kw)
    with open(path, "w", encoding="utf-8", newline="\n") as stream:
        return _write(stream, records)


# ----------------------------------------------------------------------------- CLI


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", "-n", type=_count, default=1000, help="number of records (default 1000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed; same seed, same bytes (default 42)")
    parser.add_argument("--invalid-share", type=_share, default=0.05, help="share of bad records, split over the kinds")
    parser.add_argument("--duplicate-share", type=_share, default=0.01, help="share of re-sent records")
    parser.add_argument(
        "--lifecycle-share", type=_share, default=0.0,
        help="share of status updates of earlier transactions (with it, the invalid share also holds illegal moves,"
        " immutable-field changes, out-of-order versions and re-sent updates); a follow-up is meant to be sent"
        " after the message it follows was stored (default 0)",
    )  # fmt: skip
    parser.add_argument("--start", type=date.fromisoformat, default=None, help="first event date (UTC)")
    parser.add_argument(
        "--end", type=date.fromisoformat, default=None, help=f"end date, exclusive (default {DEFAULT_END})"
    )
    parser.add_argument("--out", "-o", default="-", help="output NDJSON file, or - for stdout (default)")
    parser.add_argument(
        "--json", action="store_true", help="the counts as one JSON document on stdout (needs --out FILE)"
    )


def run(args: argparse.Namespace) -> int:
    """``mtx generate``: write the records (file or stdout), the counts per kind to stderr (``--json``: to stdout,
    as one JSON document, when the records go to a file)."""
    as_json = bool(getattr(args, "json", False))
    if as_json and args.out == "-":
        raise SystemExit("mtx generate: --json needs --out FILE (stdout carries the records)")
    began = time.perf_counter()
    try:
        records = generate(
            args.count,
            seed=args.seed,
            invalid_share=args.invalid_share,
            duplicate_share=args.duplicate_share,
            start=args.start,
            end=args.end,
            lifecycle_share=getattr(args, "lifecycle_share", 0.0),
        )
    except ValueError as exc:
        print(f"mtx generate: {exc}", file=sys.stderr)
        return 2
    if args.out == "-":
        try:
            counts = _write(sys.stdout, records)
            sys.stdout.flush()
        except BrokenPipeError:  # `mtx generate | head`: the reader has had enough
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0
        target = "stdout"
    else:
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="\n") as stream:
            counts = _write(stream, records)
        target = str(path)
    elapsed = time.perf_counter() - began
    shown = ALL_KINDS if any(counts.get(kind) for kind in LIFECYCLE_KINDS) else KINDS
    if as_json:
        document = {"count": args.count, "seed": args.seed, "out": target, "seconds": round(elapsed, 3),
                    "kinds": {kind: counts.get(kind, 0) for kind in shown}}  # fmt: skip
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1, 0, 2))
    table.add_column("kind")
    table.add_column("records", justify="right")
    for kind in shown:
        table.add_row(kind, f"{counts.get(kind, 0):,}")
    console = Console(stderr=True, markup=False, highlight=False)
    console.print(f"generated {args.count} records (seed {args.seed}) to {target} in {elapsed:.2f} s")
    console.print(table)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mtx generate", description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(parser)
    return run(parser.parse_args(argv))


__all__ = [
    "ALL_KINDS", "CATALOGUE_KINDS", "CONTRACT_KINDS", "DEFAULT_DAYS", "DEFAULT_END", "DUPLICATE", "INVALID_KINDS",
    "KINDS", "LIFECYCLE_INVALID_KINDS", "LIFECYCLE_KINDS", "STATUS_UPDATE", "VALID", "GeneratedRecord",
    "add_arguments", "generate", "main", "run", "write_ndjson",
]  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
