"""RefreshFxRates (scheduled, daily): keep the FX table the Enrich stage reads up to date, and say how old it is.

With ``MTX_FX_RATES_SOURCE_URL`` set (an https URL answering a document of the table's own shape,
``{"rates": {"EUR": {"YYYY-MM-DD": "1.04", ...}}}``; an adapter for a given provider's format belongs here), the
rates it answers are merged into the table (newer dates added, a date it republishes replaced; no history is
dropped) and the table is written back (the bucket's customer-managed key). Without a source, or when the source
fails, the last table is kept as it is: nothing is invented. Either way the age of the newest rate is published
as ``FxTableAgeHours`` (alarm ``fx-table-stale``), so a table nobody refreshes pages instead of silently ageing.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from contracts.config import get_settings
from lambdas.common import metrics
from lambdas.common.aws import client
from lambdas.common.enrich.fx import FxTable
from lambdas.common.errors import stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer

logger = get_logger("refresh-fx-rates")
tracer = get_tracer("refresh-fx-rates")

SOURCE_TIMEOUT_SECONDS = 20


def _current() -> dict[str, Any]:
    s = get_settings()
    try:
        body = client("s3").get_object(Bucket=s.fx_rates_bucket, Key=s.fx_rates_key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            return {"base": "USD", "rates": {}}
        raise
    document = json.loads(body)
    return document if isinstance(document, dict) and isinstance(document.get("rates"), dict) else {"rates": {}}


def fetch(url: str) -> dict[str, dict[str, str]]:
    """The rates the source answers, checked to be a table (FxTable parses every rate)."""
    if not url.startswith("https://"):
        raise ValueError("MTX_FX_RATES_SOURCE_URL: only https sources are read")
    with urllib.request.urlopen(url, timeout=SOURCE_TIMEOUT_SECONDS) as answer:  # noqa: S310 - https only, above
        body = answer.read()
    FxTable.from_document(body)  # raises on a malformed table: the last one is kept
    rates: dict[str, dict[str, str]] = json.loads(body)["rates"]
    return {str(c): {str(d): str(v) for d, v in by_date.items()} for c, by_date in rates.items()}


def newest_rate_date(rates: dict[str, dict[str, Any]]) -> dt.date | None:
    dates = [d for by_date in rates.values() for d in by_date]
    return dt.date.fromisoformat(max(dates)) if dates else None


def refresh(now: dt.datetime | None = None) -> dict[str, Any]:
    s = get_settings()
    now = now or dt.datetime.now(dt.UTC)
    document = _current()
    rates: dict[str, dict[str, Any]] = document["rates"]
    outcome = "kept: no source configured"
    if s.fx_rates_source_url:
        try:
            fresh = fetch(s.fx_rates_source_url)
        except (OSError, ValueError) as exc:
            outcome = f"kept: the source failed ({type(exc).__name__})"
        else:
            for currency, by_date in fresh.items():
                rates.setdefault(currency, {}).update(by_date)
            document.update(base="USD", source=s.fx_rates_source_url.split("?", 1)[0],
                            generated_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"), rates=rates)  # fmt: skip
            try:
                client("s3").put_object(Bucket=s.fx_rates_bucket, Key=s.fx_rates_key, ContentType="application/json",
                                        Body=json.dumps(document, sort_keys=True).encode())  # fmt: skip
            except (ClientError, BotoCoreError) as exc:
                outcome = f"kept: the table could not be written ({type(exc).__name__})"
            else:
                outcome = "refreshed"
    newest = newest_rate_date(rates)
    age_hours = (now - dt.datetime.combine(newest, dt.time(), dt.UTC)).total_seconds() / 3600 if newest else None
    if age_hours is not None:
        metrics.emit("FxTableAgeHours", round(age_hours, 1))
    logger.info("FX table %s; newest rate %s", outcome, newest)
    return {"outcome": outcome, "currencies": len(rates), "newest_rate_date": newest and newest.isoformat(),
            "age_hours": age_hours}  # fmt: skip


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return refresh()
