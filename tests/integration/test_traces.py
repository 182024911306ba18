"""The handlers' traces (Powertools Tracer, lambdas/common/tracing.py) through the local stack's X-Ray daemon.

The local runtime plays the X-Ray daemon and Lambda's part of a trace (orchestration/runtime/xray.py): every
segment the handlers send lands in ``<home>/traces/segments.ndjson``. A transaction goes through the real
transaction workflow and another is refused by the catalogue; what could fail: a handler of the workflow
not traced, a trace without the transaction id or with the wrong outcome, a record value (the client's IP,
the card's last four digits) in any segment, a response captured.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from orchestration.runtime import xray
from orchestration.runtime.stack import LocalStack
from tests.helpers import run_execution, seed_tx

pytestmark = pytest.mark.integration

#: the handlers a stored transaction runs through, by function short name (dashes)
WORKFLOW = ("validate-transaction", "check-item", "store-compliance", "strip-pii", "store-analytics")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _annotations_by_function(documents: list[dict[str, Any]], prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Function (short name) -> the annotations of the handler subsegments of each of its traced invocations."""
    functions = {
        d["trace_id"]: d["name"].removeprefix(prefix + "-")
        for d in documents
        if d.get("origin") == "AWS::Lambda::Function"
    }
    found: dict[str, list[dict[str, Any]]] = {}
    for d in documents:
        if d.get("type") == "subsegment" and d.get("name") == "## handler" and d.get("trace_id") in functions:
            found.setdefault(functions[d["trace_id"]], []).append(d.get("annotations", {}))
    return found


def test_each_handler_of_a_transaction_is_traced_with_its_id_and_outcome_and_no_record_value(
    stack: LocalStack,
) -> None:
    s = stack.require_settings()
    # the SDK's own setting, in this process and for the stack's other processes (stack.env), as AWS_ENDPOINT_URL
    assert stack.xray is not None
    assert f'export {xray.ADDRESS_ENV}="{stack.xray.address}"' in stack.env_file.read_text().splitlines()
    start = len(xray.read(stack.segments_file))
    ip, card = "203.0.113.77", "9731"
    stored = seed_tx(client_ip=ip)
    stored["payment_details"] = {**stored["payment_details"], "card_last4": card}
    refused = seed_tx(client_ip=ip)
    refused["payment_details"] = {**refused["payment_details"], "card_last4": card}
    refused["item_purchased"] = {**refused["item_purchased"], "item_id": "mtx_not_in_the_catalogue"}

    outcomes = [
        run_execution(stack, "transaction", {"transaction": tx, "received_at": "2026-11-22T00:00:00Z"})["status"]
        for tx in (stored, refused)
    ]
    assert outcomes == ["SUCCEEDED", "FAILED"]

    def traced() -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        documents = xray.read(stack.segments_file)[start:]
        return documents, _annotations_by_function(documents, s.name_prefix)

    deadline = time.monotonic() + 30  # UDP: the last documents may still be on their way
    documents, by_function = traced()
    while time.monotonic() < deadline and not all(
        any(a.get("transaction_id") == stored["transactionId"] for a in by_function.get(f, [])) for f in WORKFLOW
    ):
        time.sleep(0.2)
        documents, by_function = traced()

    for function in WORKFLOW:
        mine = [a for a in by_function.get(function, []) if a.get("transaction_id") == stored["transactionId"]]
        assert mine, f"no trace of {function} annotated with the transaction id"
        assert [a["outcome"] for a in mine] == ["ok"], function
    refusals = [a for a in by_function.get("check-item", []) if a.get("transaction_id") == refused["transactionId"]]
    assert [a["outcome"] for a in refusals] == ["ItemNotFound"]
    compliance = [a for a in by_function["store-compliance"] if a.get("transaction_id") == stored["transactionId"]]
    assert compliance[0]["execution_arn"].startswith("arn:aws:states:")
    # the AWS SDK's calls are traced too (the analytics copy's S3 put under store-analytics' trace)
    calls = {(d.get("namespace"), d.get("name")) for d in documents}
    assert ("aws", "s3") in calls, calls

    # no record value anywhere: neither the IP nor the card digits, in any segment, key or value
    card_token = re.compile(rf"(?<![0-9A-Za-z]){card}(?![0-9A-Za-z])")
    leaked = [v for d in documents for v in _strings(d) if ip in v or card_token.search(v)]
    assert leaked == []
    assert not any("metadata" in d and "handler response" in str(d["metadata"]) for d in documents)
