"""Typed, validated parameters of every named operation (pydantic), and the job request."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts.acceptance import shown_key
from contracts.errors import MAX_FIELD_ERRORS
from contracts.fields import Identifier, Name
from lambdas.analytics_api.errors import InvalidParameters, SqlNotAllowed, UnknownOperation


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class WarehouseInfoParams(Params):
    """No parameters."""


Money = Decimal


class PlayerAnalysisParams(Params):
    level: Literal["segment", "player"] = Field("segment", description="segment totals, or one row per player")
    min_purchases: int = Field(1, ge=0, le=1_000_000, description="HAVING: completed purchases at least")
    min_lifetime_value: Money = Field(Decimal(0), ge=0, le=Decimal(10**12), decimal_places=4)
    dolphin_threshold: Money = Field(Decimal(20), gt=0, le=Decimal(10**12), decimal_places=4)
    whale_threshold: Money = Field(Decimal(100), gt=0, le=Decimal(10**12), decimal_places=4)
    limit: int = Field(1000, ge=1, le=100_000, description="players returned (level=player)")

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> PlayerAnalysisParams:
        if self.dolphin_threshold >= self.whale_threshold:
            raise ValueError("dolphin_threshold must be below whale_threshold")
        return self


class RevenueAnalysisParams(Params):
    period: Literal["day", "month"] = "day"
    currency: Literal["USD"] = "USD"
    start_date: dt.date | None = None
    end_date: dt.date | None = None

    @model_validator(mode="after")
    def _range_ordered(self) -> RevenueAnalysisParams:
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise ValueError("start_date must not be after end_date")
        return self


#: The timeframes multi_dimensional_analytics accepts: label -> (days, months).
TIMEFRAMES: dict[str, tuple[int, int]] = {
    "7 days": (7, 0),
    "30 days": (30, 0),
    "90 days": (90, 0),
    "180 days": (180, 0),
    "365 days": (365, 0),
    "1 month": (0, 1),
    "3 months": (0, 3),
    "6 months": (0, 6),
    "12 months": (0, 12),
    "1 year": (0, 12),
}
Timeframe = Literal[
    "7 days", "30 days", "90 days", "180 days", "365 days", "1 month", "3 months", "6 months", "12 months", "1 year"
]


class MultiDimensionalParams(Params):
    timeframe: Timeframe = "90 days"

    def since(self, today: dt.date) -> dt.date:
        days, months = TIMEFRAMES[self.timeframe]
        if months:
            total = today.year * 12 + (today.month - 1) - months
            year, month = divmod(total, 12)
            month += 1
            # clamp the day (31 March - 1 month = 28/29 February)
            for day in (today.day, 30, 29, 28):
                try:
                    return dt.date(year, month, day)
                except ValueError:
                    continue
        return today - dt.timedelta(days=days)


class DataIntegrityParams(Params):
    """No parameters."""


#: An hour as the real-time aggregates key it (UTC): YYYY-MM-DDTHH, years 2000-2099 (the contract's events start in
#: 2000); the calendar (30 February) is checked by the model.
HOUR_PATTERN = r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3])$"
#: The widest ranges realtime_revenue reads at once: 31 days of hours, a year of days.
MAX_HOURS = 31 * 24
MAX_DAYS = 366


def parse_hour(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)


class RealtimeRevenueParams(Params):
    """One game's real-time aggregates by hour (and one item's by day), hours and days with no purchase left out"""

    game: Name = Field(description="the game, as the transactions name it")
    from_hour: str = Field(pattern=HOUR_PATTERN, description="first hour, UTC, YYYY-MM-DDTHH")
    to_hour: str = Field(pattern=HOUR_PATTERN, description="last hour (included), UTC, YYYY-MM-DDTHH")
    item_id: Identifier | None = Field(None, description="also this item's rollups by day")
    from_day: dt.date | None = Field(None, description="first day of the item's rollups (default: from_hour's day)")
    to_day: dt.date | None = Field(None, description="last day of the item's rollups (default: to_hour's day)")

    @model_validator(mode="after")
    def _ranges(self) -> RealtimeRevenueParams:
        try:
            first, last = parse_hour(self.from_hour), parse_hour(self.to_hour)
        except ValueError:
            raise ValueError("from_hour and to_hour must be calendar hours (YYYY-MM-DDTHH, UTC)") from None
        if first > last:
            raise ValueError("from_hour must not be after to_hour")
        if last - first >= dt.timedelta(hours=MAX_HOURS):
            raise ValueError(f"from_hour to to_hour spans at most {MAX_HOURS} hours")
        if self.item_id is None and (self.from_day is not None or self.to_day is not None):
            raise ValueError("from_day and to_day need item_id")
        first_day, last_day = self.day_range()
        if first_day > last_day:
            raise ValueError("from_day must not be after to_day")
        if (last_day - first_day).days >= MAX_DAYS:
            raise ValueError(f"from_day to to_day spans at most {MAX_DAYS} days")
        return self

    def hour_range(self) -> tuple[dt.datetime, dt.datetime]:
        return parse_hour(self.from_hour), parse_hour(self.to_hour)

    def day_range(self) -> tuple[dt.date, dt.date]:
        first, last = self.hour_range()
        return self.from_day or first.date(), self.to_day or last.date()


OPERATIONS: dict[str, type[Params]] = {
    "warehouse_info": WarehouseInfoParams,
    "player_analysis": PlayerAnalysisParams,
    "revenue_analysis": RevenueAnalysisParams,
    "multi_dimensional_analytics": MultiDimensionalParams,
    "data_integrity_analysis": DataIntegrityParams,
    "realtime_revenue": RealtimeRevenueParams,
}

# --- safety ---------------------------------------------------------------
SQL_PARAMETER_NAMES = frozenset({"sql", "query", "statement", "raw_sql", "sql_query", "where", "filter"})
_SQL_TEXT = re.compile(
    r"(;|--|/\*|\*/|\b(select|insert|update|delete|drop|alter|create|truncate|grant|revoke|union|merge|copy"
    r"|execute|exec|pg_sleep|information_schema|pg_catalog)\b)",
    re.IGNORECASE,
)


def looks_like_sql(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_SQL_TEXT.search(value))
    if isinstance(value, dict):
        return any(looks_like_sql(k) or looks_like_sql(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(looks_like_sql(v) for v in value)
    return False


def problem(name: str, rule: str, reason: str) -> dict[str, str]:
    """One parameter at fault: its name as it may be shown (a plain name, else ``*``), the rule, a sentence."""
    return {"name": shown_key(name), "field": shown_key(name), "rule": rule, "reason": reason}


def with_fields(problems: list[dict[str, str]]) -> dict[str, Any]:
    """The error details: ``parameters`` (name, reason; as before) and ``fields`` (field, rule, reason), the
    first MAX_FIELD_ERRORS of them."""
    problems = problems[:MAX_FIELD_ERRORS]
    return {
        "parameters": [{"name": p["name"], "reason": p["reason"]} for p in problems],
        "fields": [{"field": p["field"], "rule": p["rule"], "reason": p["reason"]} for p in problems],
    }


def reject_sql(values: dict[str, Any]) -> None:
    """400 for any request carrying SQL: a sql/query parameter, or SQL keywords in names or values."""
    named = sorted({shown_key(str(k)) for k in values if str(k).lower() in SQL_PARAMETER_NAMES})[:MAX_FIELD_ERRORS]
    if named:
        raise SqlNotAllowed(
            f"SQL is not accepted: parameter(s) {', '.join(named)} are not allowed; use a named operation",
            **_sql_fields(named),
        )
    bad = sorted({shown_key(str(k)) for k, v in values.items() if looks_like_sql(k) or looks_like_sql(v)})
    bad = bad[:MAX_FIELD_ERRORS]
    if bad:
        raise SqlNotAllowed(f"SQL is not accepted: parameter(s) {', '.join(bad)} carry SQL text", **_sql_fields(bad))


def _sql_fields(names: list[str]) -> dict[str, Any]:
    reason = "SQL is not accepted; use a named operation"
    return {"parameters": names, "fields": [{"field": n, "rule": "parameter.sql", "reason": reason} for n in names]}


def _rule_of(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "parameter.unknown"
    if not err["loc"]:  # a rule between parameters (a model validator)
        return "parameter.inconsistent"
    return "parameter.invalid"


def parse_operation(operation: Any, raw: dict[str, Any]) -> tuple[str, Params]:
    """The operation name and its validated parameters, or the API error naming what is wrong."""
    if not isinstance(operation, str) or not operation:
        raise InvalidParameters(
            "parameter operation is required: one of " + ", ".join(OPERATIONS),
            **with_fields([problem("operation", "operation.required", "required")]),
            valid_operations=list(OPERATIONS),
        )
    model = OPERATIONS.get(operation)
    if model is None:
        raise UnknownOperation(
            f"unknown operation: valid operations are {', '.join(OPERATIONS)}",
            fields=[{"field": "operation", "rule": "operation.unknown", "reason": "not a named operation"}],
            valid_operations=list(OPERATIONS),
        )
    try:
        return operation, model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            name = ".".join(str(p) for p in err["loc"]) or "parameters"
            reason = "is not a parameter of this operation" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(problem(name, _rule_of(err), reason.removeprefix("Value error, ")))
        names = sorted({p["name"] for p in problems})[:MAX_FIELD_ERRORS]
        raise InvalidParameters(
            f"invalid parameter(s) for {operation}: {', '.join(names)}", **with_fields(problems)
        ) from None


def normalised(params: Params) -> dict[str, Any]:
    """Parameters with defaults filled, as JSON-able values (Decimals without trailing zeros)."""

    def norm(value: Any) -> Any:
        if isinstance(value, Decimal):
            text = format(value.normalize(), "f")
            return text
        if isinstance(value, dt.date):
            return value.isoformat()
        return value

    return {k: norm(v) for k, v in params.model_dump().items()}


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    operation: str
    parameters: dict[str, Any] = Field(default_factory=dict)
