"""The one timestamp text the pipeline writes for its own times (received, ingested, checked, generated).

UTC, microseconds, ``Z``: ``2026-11-29T11:20:03.123456Z``. Event timestamps are the
contract's (``contracts.transaction``), which drops a zero fraction.
"""

from __future__ import annotations

import datetime as dt

ISO_UTC = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_iso(at: dt.datetime | None = None) -> str:
    """``at`` (default now; a naive datetime is taken as UTC) in UTC as ISO_UTC text."""
    at = at or dt.datetime.now(dt.UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).strftime(ISO_UTC)


def now_iso() -> str:
    return utc_iso()
