"""What a run of the data checks found, and the one alert that says so (SNS)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_SNS_LIMIT = 200_000  # bytes; SNS allows 256 KiB


@dataclass(frozen=True)
class FailedExpectation:
    suite: str
    expectation_type: str
    column: str | None
    observed_value: Any
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        col = f" column={self.column}" if self.column else ""
        return f"[{self.suite}] {self.expectation_type}{col} observed={json.dumps(self.observed_value, default=str)}"


@dataclass(frozen=True)
class SuiteSummary:
    suite: str
    success: bool
    evaluated: int
    failed: int


@dataclass
class CheckReport:
    success: bool
    docs_index: Path | None
    suites: list[SuiteSummary]
    failures: list[FailedExpectation]
    alert_message_id: str | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Machine-readable summary (JSON-serialisable)."""
        return {
            "success": self.success,
            "docs_index": str(self.docs_index) if self.docs_index else None,
            "suites": [asdict(s) for s in self.suites],
            "failures": [asdict(f) for f in self.failures],
            "alert_message_id": self.alert_message_id,
            "seconds": round(self.seconds, 3),
        }

    def failed_expectation_types(self, suite_prefix: str = "") -> set[tuple[str, str | None]]:
        return {(f.expectation_type, f.column) for f in self.failures if f.suite.startswith(suite_prefix)}


def failures_of(result: Any) -> list[FailedExpectation]:
    suite = result.suite_name
    out: list[FailedExpectation] = []
    for r in result.results:
        if r.success:
            continue
        cfg = r.expectation_config
        kwargs = dict(cfg.kwargs)
        res = r.result if isinstance(r.result, dict) else {}
        details: dict[str, Any] = {}
        if r.exception_info and r.exception_info.get("raised_exception"):
            details["exception"] = str(r.exception_info.get("exception_message"))[:500]
        if "observed_value" in res:
            observed: Any = res["observed_value"]
        elif "unexpected_count" in res:
            observed = {
                "unexpected_count": res.get("unexpected_count"),
                "unexpected_percent": res.get("unexpected_percent"),
            }
        else:
            observed = None
        if isinstance(res.get("details"), dict) and "mismatched" in res["details"]:
            details["observed_columns"] = observed
            observed = details["mismatched"] = res["details"]["mismatched"]  # what is extra / missing
        if res.get("partial_unexpected_list"):
            details["sample_unexpected"] = res["partial_unexpected_list"][:10]
        column = kwargs.get("column") or (",".join(kwargs["column_list"]) if kwargs.get("column_list") else None)
        out.append(FailedExpectation(suite, cfg.type, column, jsonable(observed), jsonable(details)))
    return out


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def alert_message(report: CheckReport) -> dict[str, Any]:
    failures = [asdict(f) for f in report.failures]
    msg: dict[str, Any] = {
        "source": "mtx-pipeline/great-expectations",
        "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "success": report.success,
        "failed_count": len(failures),
        "failed_expectations": failures,
        "lines": [f.line() for f in report.failures],
        "suites": [asdict(s) for s in report.suites],
        "data_docs": str(report.docs_index) if report.docs_index else None,
    }
    while len(json.dumps(msg, default=str).encode()) > _SNS_LIMIT and msg["failed_expectations"]:
        msg["failed_expectations"] = msg["failed_expectations"][: len(msg["failed_expectations"]) // 2]
        msg["lines"] = msg["lines"][: len(msg["lines"]) // 2]
        msg["truncated"] = True
    return msg


def publish_alert(sns: Any, topic_arn: str, report: CheckReport) -> str:
    """Publish ONE SNS message listing every failed expectation; returns its MessageId."""
    suites_failed = sorted({f.suite for f in report.failures})
    subject = f"MTX data checks failed: {len(report.failures)} expectation(s) in {len(suites_failed)} suite(s)"
    body = json.dumps(alert_message(report), default=str, indent=1)
    return str(sns.publish(TopicArn=topic_arn, Subject=subject[:100], Message=body)["MessageId"])
