"""Terraform of the streaming entrance (modules/stream) against what the local runtime creates and plays:
the stream and on-failure queue names (orchestration/manifest.py), the event source mapping's defaults
(orchestration/runtime/stream_poller.py StreamMapping) and the platform's wiring."""

from __future__ import annotations

import pytest

from orchestration.runtime import manifest as manifest_mod
from orchestration.runtime.stream_poller import StreamMapping
from orchestration.settings import Settings
from tests.hcl_helpers import MODULES, PLATFORM, module_locals, parsed, resource, unquote, variables

pytestmark = pytest.mark.unit
STREAM = MODULES / "stream"
S = Settings(name_prefix="mtx-dev")


def _name(expr: str) -> str:
    return unquote(expr).replace("${var.name_prefix}", S.name_prefix)


def test_names_are_the_manifests() -> None:
    stream = _name(module_locals(STREAM)["stream_name"])
    assert stream == manifest_mod.stream_name(S)
    queue = unquote(resource(STREAM, "aws_sqs_queue")["name"]).replace("${local.stream_name}", stream)
    assert queue == manifest_mod.stream_failures_queue_name(S)


def test_the_local_mapping_plays_terraforms_defaults() -> None:
    defaults = {name: v.get("default") for name, v in variables(STREAM).items()}
    local = StreamMapping()
    assert (defaults["batch_size"], defaults["maximum_batching_window_in_seconds"]) == (
        local.batch_size, local.window_seconds)  # fmt: skip
    assert defaults["maximum_retry_attempts"] == local.max_retry_attempts
    assert defaults["maximum_record_age_in_seconds"] == local.max_record_age_seconds
    assert defaults["retention_period_hours"] == manifest_mod.STREAM_RETENTION_HOURS
    mapping = resource(STREAM, "aws_lambda_event_source_mapping")
    assert mapping["bisect_batch_on_function_error"] is True == local.bisect_on_function_error
    assert [unquote(t) for t in mapping["function_response_types"]] == ["ReportBatchItemFailures"]


def test_the_platform_enables_the_stream_by_default_for_the_ingest_stream_function() -> None:
    assert variables(PLATFORM)["enable_stream"]["default"] is True
    [call] = [body for entry in parsed(PLATFORM / "main.tf")["module"] for name, body in entry.items()
              if unquote(name) == "stream"]  # fmt: skip
    assert call["count"] == "${var.enable_stream ? 1 : 0}"
    assert call["function_arn"] == '${module.lambda.function_arns["ingest_stream"]}'
    assert "ingest_stream" in manifest_mod.LAMBDAS
