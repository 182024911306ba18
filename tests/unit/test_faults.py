"""The fault injector's pure parts: which requests it may fault, and the error shapes botocore parses."""

from __future__ import annotations

import json

import pytest
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.session import get_session

from orchestration.runtime.faults import SPARED_AGENT, FaultInjector, FaultPlan, error_response

pytestmark = pytest.mark.unit

AUTH = "AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=x"


def environ(service: str, **extra: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": AUTH.format(service=service), "HTTP_USER_AGENT": "Boto3/1.x", **extra}


def test_service_is_read_from_the_signature_and_sqs_only_for_sends() -> None:
    assert FaultInjector.service_of(environ("dynamodb")) == "dynamodb"
    assert FaultInjector.service_of(environ("s3")) == "s3"
    assert FaultInjector.service_of(environ("sqs", HTTP_X_AMZ_TARGET="AmazonSQS.SendMessage")) == "sqs"
    assert FaultInjector.service_of(environ("sqs", HTTP_X_AMZ_TARGET="AmazonSQS.ReceiveMessage")) is None
    assert FaultInjector.service_of(environ("dynamodb", HTTP_USER_AGENT=f"Boto3/1.x {SPARED_AGENT}")) is None
    assert FaultInjector.service_of({"HTTP_USER_AGENT": "curl"}) is None


def test_nothing_is_faulted_while_disabled_and_rates_apply_when_enabled() -> None:
    injector = FaultInjector(FaultPlan(s3=1.0, dynamodb=0.0, sqs_send=1.0, lambda_timeout=1.0))
    calls = []

    def app(env: dict[str, str], start_response: object) -> list[bytes]:
        calls.append(env)
        return [b"ok"]

    wrapped = injector.wrap(app)
    assert wrapped(environ("s3"), lambda *a: None) == [b"ok"]
    assert not injector.lambda_times_out("f")
    injector.enabled = True
    assert wrapped(environ("dynamodb"), lambda *a: None) == [b"ok"]  # rate 0
    wrapped(environ("s3"), lambda *a: None)
    assert injector.lambda_times_out("f")
    assert injector.total == 2 and len(calls) in (2, 3)  # a reset_after lets the call through first


@pytest.mark.parametrize("kind", ["throttled", "server_error"])
@pytest.mark.parametrize(
    ("service", "operation", "extra", "retryable"),
    [
        ("dynamodb", "PutItem", {}, {"ThrottlingException", "InternalServerError"}),
        ("sqs", "SendMessage", {"HTTP_X_AMZ_TARGET": "AmazonSQS.SendMessage"}, {"RequestThrottled", "InternalError"}),
        ("s3", "PutObject", {}, {"SlowDown", "InternalError"}),
    ],
)
def test_error_bodies_parse_as_the_services_own_errors(
    service: str, operation: str, extra: dict[str, str], retryable: set[str], kind: str
) -> None:
    status, headers, body = error_response(service, kind, environ(service, **extra))
    loader = get_session().get_component("data_loader")
    model = ServiceModel(loader.load_service_model(service, "service-2"), service)
    parser = create_parser(model.metadata["protocol"])
    parsed = parser.parse(
        {"status_code": int(status.split()[0]), "headers": dict(headers), "body": body},
        model.operation_model(operation).output_shape,
    )
    assert parsed["Error"]["Code"] in retryable
    assert int(status.split()[0]) >= (500 if kind == "server_error" else 400)
    json.dumps(parsed["Error"])  # value-free and serialisable
