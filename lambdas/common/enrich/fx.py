"""USD exchange rates for the Enrich stage: the daily FX table, one small JSON object in S3.

``s3://<MTX_FX_RATES_BUCKET>/<MTX_FX_RATES_KEY>`` (default ``reference/fx/daily.json`` in the raw bucket, which is
encrypted with the customer-managed key) holds::

    {"base": "USD", "source": "...", "generated_at": "...Z",
     "rates": {"EUR": {"2025-01-01": "1.040000", ...}, ...}}   # USD per one unit of the currency, by rate date

The scheduled ``refresh_fx_rates`` function writes it in AWS; the local stack seeds it (from the dbt seed
``exchange_rates.csv``, so the warehouse and the pipeline agree). The rate of a transaction is the one in force
on its event date: the latest rate dated on or before it (a currency's last rate holds until a newer one is
published; the refresh job's staleness metric says when that is too old). No rate on or before the date, or no
such currency: ``FxRateMissing``, a named condition retried later (the table may be refreshed meanwhile), never a
crash and never a guessed rate.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lambdas.common.errors import FxRateMissing

FX_UNIT = Decimal("0.00000001")  # numeric(18,8), as the warehouse keeps rates
USD_CENT_PLACES = Decimal("0.0001")  # numeric(18,4): amount_usd


@dataclass(frozen=True)
class Rate:
    usd_per_unit: Decimal
    rate_date: str  # YYYY-MM-DD


class FxTable:
    """Rates by currency, each as (sorted rate dates, rates): a lookup is a bisect."""

    def __init__(self, rates: dict[str, dict[str, Any]]) -> None:
        self._dates: dict[str, list[str]] = {}
        self._values: dict[str, list[Decimal]] = {}
        for currency, by_date in rates.items():
            dates = sorted(by_date)
            self._dates[currency] = dates
            self._values[currency] = [Decimal(str(by_date[d])).quantize(FX_UNIT) for d in dates]
        self._memo: dict[tuple[str, str], Rate | None] = {}

    @classmethod
    def from_document(cls, body: bytes | str) -> FxTable:
        document = json.loads(body)
        rates = document.get("rates") if isinstance(document, dict) else None
        if not isinstance(rates, dict):
            raise ValueError("FX table: no 'rates' object")
        return cls(rates)

    @property
    def currencies(self) -> frozenset[str]:
        return frozenset(self._dates)

    def rate(self, currency: str, event_date: str) -> Rate | None:
        """The rate in force on ``event_date`` (YYYY-MM-DD), or None when there is none."""
        key = (currency, event_date)
        try:
            return self._memo[key]
        except KeyError:
            pass
        found: Rate | None = None
        dates = self._dates.get(currency)
        if dates:
            i = bisect.bisect_right(dates, event_date)
            if i:
                found = Rate(self._values[currency][i - 1], dates[i - 1])
        self._memo[key] = found
        return found

    def convert(self, amount: Decimal, currency: str, event_date: str) -> tuple[Decimal, Rate]:
        """(amount in USD rounded to 4 places, the rate used); ``FxRateMissing`` when no rate is in force."""
        found = self.rate(currency, event_date)
        if found is None:
            raise FxRateMissing(
                "item_purchased.price.currency: no USD exchange rate in force on the event date in the FX table"
            )
        return (amount * found.usd_per_unit).quantize(USD_CENT_PLACES, rounding=ROUND_HALF_UP), found
