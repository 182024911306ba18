"""The business metrics of one run of the local stack, summed as an operator reads them (``mtx status``,
``mtx report``): EMF data points in (``orchestration/runtime/emf.py``: what CloudWatch would hold), plain
counts and series out. Pure: no stack, no clock but the one passed in.

Dead letters per entrance: the bulk handlers, the last-resort net and the sweeper publish ``DeadLettered``;
the per-transaction workflow sends its rejects to the dead-letter queue itself (an SQS task, no function:
in AWS they are counted from its ``ExecutionFailed`` events), so on the ``api`` entrance a reject
(``TransactionsRejected``) is also a dead letter. A workflow failure that is not a reject has no metric
of its own locally; the queue itself shows it (``mtx status`` compares the two).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

ENTRANCES = ("api", "file", "stream")
#: The per-transaction entrance, whose rejects the workflow dead-letters without a function.
WORKFLOW_ENTRANCE = "api"
#: The marts-stale alarm's threshold (lambdas/common/metrics.py CATALOGUE, MartFreshnessMinutes).
STALE_AFTER_MINUTES = 1_560.0

Point = tuple[float, str, dict[str, str], float]


def iso(at: float | None) -> str | None:
    return None if at is None else dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="seconds")


@dataclass
class Flow:
    """One entrance's counts."""

    entrance: str
    received: float = 0
    stored: float = 0
    duplicates: float = 0
    rejected: float = 0
    dead_lettered: float = 0
    quarantined: float = 0


@dataclass
class DbtBuild:
    at: float
    models: dict[str, float]
    tests_failed: float


@dataclass
class DataChecks:
    at: float
    passed: float = 0
    failed: float = 0
    freshness_minutes: float | None = None


@dataclass
class View:
    flow: dict[str, Flow] = field(default_factory=lambda: {e: Flow(e) for e in ENTRANCES})
    #: (entrance, reason) -> dead letters
    dead_letters: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    #: (epoch seconds, entrance, "received" | "stored", count) of each datum, bucketed by ``throughput``
    series: list[tuple[float, str, str, float]] = field(default_factory=list)
    #: stage -> its latencies (ms), in order
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    builds: list[DbtBuild] = field(default_factory=list)
    checks: list[DataChecks] = field(default_factory=list)
    stuck_settled: float = 0
    archived: float = 0
    first_at: float | None = None
    last_at: float | None = None
    points: int = 0

    @property
    def last_build(self) -> DbtBuild | None:
        return self.builds[-1] if self.builds else None

    @property
    def last_checks(self) -> DataChecks | None:
        return self.checks[-1] if self.checks else None


_FLOW = {"TransactionsReceived": "received", "TransactionsStored": "stored", "DuplicatesIgnored": "duplicates",
         "RecordsQuarantined": "quarantined"}  # fmt: skip
_SERIES = {"TransactionsReceived": "received", "TransactionsStored": "stored"}


def summarise(points: Iterable[Point]) -> View:
    """Sum the data points of one run, in the order they were written."""
    view = View()
    models: dict[str, float] = defaultdict(float)  # of the dbt build under way (its tests' datum closes it)
    for at, name, dims, value in points:
        view.points += 1
        view.first_at = at if view.first_at is None else min(view.first_at, at)
        view.last_at = at if view.last_at is None else max(view.last_at, at)
        entrance = dims.get("Entrance", "")
        if entrance and entrance not in view.flow:
            view.flow[entrance] = Flow(entrance)
        if name in _FLOW:
            flow = view.flow[entrance]
            setattr(flow, _FLOW[name], getattr(flow, _FLOW[name]) + value)
            if name in _SERIES:
                view.series.append((at, entrance, _SERIES[name], value))
        elif name == "TransactionsRejected":
            view.flow[entrance].rejected += value
            if entrance == WORKFLOW_ENTRANCE:
                _dead_letter(view, entrance, dims["Reason"], value)
        elif name == "DeadLettered":
            _dead_letter(view, entrance, dims["Reason"], value)
        elif name == "StageLatency":
            view.latencies[dims["Stage"]].append(value)
        elif name == "DbtModelsBuilt":
            models[dims["Outcome"]] += value
        elif name == "DbtTestsFailed":
            view.builds.append(DbtBuild(at=at, models=dict(models), tests_failed=value))
            models.clear()
        elif name == "DataChecksFailed":
            view.checks.append(DataChecks(at=at, failed=value))
        elif name == "DataChecksPassed" and view.checks:
            view.checks[-1].passed += value
        elif name == "MartFreshnessMinutes":
            if not view.checks:
                view.checks.append(DataChecks(at=at))
            view.checks[-1].freshness_minutes = value
        elif name == "StuckSettled":
            view.stuck_settled += value
        elif name == "DeadLettersArchived":
            view.archived += value
    return view


def _dead_letter(view: View, entrance: str, reason: str, value: float) -> None:
    view.flow[entrance].dead_lettered += value
    view.dead_letters[(entrance, reason)] += value


def bucket_seconds(view: View) -> int:
    """A minute; 10 s for a run shorter than ten minutes (a demo's), so that its curve has more than a point."""
    span = (view.last_at or 0) - (view.first_at or 0)
    return 60 if span >= 600 else 10


def throughput(view: View) -> list[dict[str, Any]]:
    """Received and stored per bucket per entrance: the count, and the rate per minute it makes."""
    size = bucket_seconds(view)
    counts: dict[tuple[float, str, str], float] = defaultdict(float)
    for at, entrance, measure, value in view.series:
        counts[(math.floor(at / size) * size, entrance, measure)] += value
    return [
        {"at": iso(b), "entrance": e, "measure": k, "count": _num(v), "per_minute": _num(round(v * 60 / size, 1))}
        for (b, e, k), v in sorted(counts.items())
    ]


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (as CloudWatch's pNN of the data points)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def stages(view: View) -> list[dict[str, Any]]:
    return [
        {"stage": stage, "count": len(values), "p50_ms": round(percentile(values, 50), 1),
         "p95_ms": round(percentile(values, 95), 1), "max_ms": round(max(values), 1)}
        for stage, values in sorted(view.latencies.items())
    ]  # fmt: skip


def refresh(view: View, now: float) -> dict[str, Any]:
    """The last dbt build and data checks the metrics saw, and how fresh the marts are now."""
    build, checks = view.last_build, view.last_checks
    freshness = None if checks is None or checks.freshness_minutes is None else checks.freshness_minutes
    minutes_now = None if freshness is None or checks is None else round(freshness + (now - checks.at) / 60, 1)
    return {
        "dbt": None if build is None else {"at": iso(build.at), "models": _whole(build.models),
                                           "tests_failed": _num(build.tests_failed)},
        "data_checks": None if checks is None else {"at": iso(checks.at), "passed": _num(checks.passed),
                                                    "failed": _num(checks.failed)},
        "freshness": None if minutes_now is None or checks is None else {
            "checked_at": iso(checks.at), "minutes_at_check": freshness, "minutes_now": minutes_now,
            "stale": minutes_now > STALE_AFTER_MINUTES, "stale_after_minutes": STALE_AFTER_MINUTES},
        "history": [{"at": iso(c.at), "freshness_minutes": c.freshness_minutes, "passed": _num(c.passed),
                     "failed": _num(c.failed)} for c in view.checks],
    }  # fmt: skip


def document(view: View, now: float) -> dict[str, Any]:
    """The view as JSON-ready data (counts as integers where they are whole)."""
    return {
        "window": {"first": iso(view.first_at), "last": iso(view.last_at), "data_points": view.points},
        "flow": [_whole(asdict(f)) for f in view.flow.values()],
        "dead_letters_by_reason": [
            {"entrance": e, "reason": r, "count": _num(v)} for (e, r), v in sorted(view.dead_letters.items())
        ],
        "throughput": {"bucket_seconds": bucket_seconds(view), "points": throughput(view)},
        "stages": stages(view),
        "operations": {"stuck_settled": _num(view.stuck_settled), "letters_archived": _num(view.archived)},
        "refresh": refresh(view, now),
    }


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _whole(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _num(v) if isinstance(v, float) else v for k, v in row.items()}
