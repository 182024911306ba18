"""The transient-error policy (orchestration/asl_policy.py) holds on every state machine, and its checker bites.

What could fail: a state machine with a Task, Map or Parallel no Catch covers, a Retry on
States.ALL, a Retry without full jitter or a delay cap, a database Retry that gives up before
an RDS failover is over, or a Retry that drifted from the policy; and the Lambda code's
transport errors leaving as botocore's own classes (which no Retry names).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import botocore.exceptions
import psycopg
import pytest

from lambdas.common.errors import (
    DatabaseUnavailable,
    ItemNotFound,
    StorageUnavailable,
    stable_errors,
    transient_service_error,
)
from orchestration import asl_policy

pytestmark = pytest.mark.unit

FILES = {path.name: path for path in asl_policy.asl_files()}


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_state_machine_keeps_the_rules(name: str) -> None:
    assert asl_policy.problems(json.loads(FILES[name].read_text())) == []


def test_the_database_budget_outlasts_a_failover_and_every_budget_its_floor() -> None:
    assert asl_policy.DATABASE.budget() >= 180  # an RDS Multi-AZ failover takes 60-120 s
    assert asl_policy.SERVICE.budget() >= asl_policy.SERVICE_BUDGET_FLOOR
    assert asl_policy.LAMBDA.budget() >= asl_policy.SERVICE_BUDGET_FLOOR
    # a Retry of 2+4+8+16 s (the old one) is under the floor
    assert asl_policy.budget(2, 4, 2.0, 30) < asl_policy.DB_BUDGET_FLOOR


def _transaction() -> dict[str, Any]:
    return json.loads(FILES["transaction.asl.json"].read_text())


def _breach(mutate: Any) -> list[str]:
    definition = _transaction()
    mutate(definition["States"])
    return asl_policy.problems(definition)


def test_the_checker_names_each_breach() -> None:
    def no_catch(s: dict[str, Any]) -> None:
        del s["CheckItemInShop"]["Catch"]

    def retry_all(s: dict[str, Any]) -> None:
        s["MarkFailed"]["Retry"][0]["ErrorEquals"].append("States.ALL")

    def no_jitter(s: dict[str, Any]) -> None:
        del s["NotifyFailure"]["Retry"][0]["JitterStrategy"]

    def no_cap(s: dict[str, Any]) -> None:
        del s["UndoPartialWrite"]["Retry"][1]["MaxDelaySeconds"]

    def short_db_budget(s: dict[str, Any]) -> None:
        s["StoreComplianceRecord"]["Retry"][0]["MaxAttempts"] = 4

    def uncovered_store(s: dict[str, Any]) -> None:
        del s["StoreComplianceRecord"]["Catch"]

    assert _breach(no_catch) == ["CheckItemInShop: a Task state not covered by any Catch"]
    assert "MarkFailed: Retry 0 retries States.ALL" in _breach(retry_all)
    assert "NotifyFailure: Retry 0 has no full jitter" in _breach(no_jitter)
    assert "UndoPartialWrite: Retry 1 has no MaxDelaySeconds" in _breach(no_cap)
    assert any("StoreComplianceRecord: Retry 0 waits 30 s at most, under its floor of 180 s" in p
               for p in _breach(short_db_budget))  # fmt: skip
    assert _breach(uncovered_store) == ["StoreComplianceRecord: a Task state not covered by any Catch"]


def test_a_task_inside_a_caught_map_or_parallel_is_covered() -> None:
    batch = json.loads(FILES["batch_ingest.asl.json"].read_text())
    inner = batch["States"]["ProcessChunks"]["ItemProcessor"]["States"]
    assert "Catch" not in inner["DeadLetterChunk"]  # covered by ProcessChunks' Catch
    assert asl_policy.problems(batch) == []


def test_rewriting_from_the_policy_changes_nothing_in_the_committed_files() -> None:
    for path in FILES.values():
        definition = json.loads(path.read_text())
        assert asl_policy.apply(copy.deepcopy(definition)) == definition, path.name


def test_an_unknown_task_resource_has_no_policy_and_says_so() -> None:
    with pytest.raises(ValueError, match="no transient-error policy for Task resource 'arn:aws:states:::ecs"):
        asl_policy.retry_for({"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync"})


@pytest.mark.parametrize(
    "resource",
    ["arn:aws:states:::glue:startJobRun.sync", "arn:aws:states:::aws-sdk:glue:startCrawler",
     "arn:aws:states:::aws-sdk:glue:getCrawler"],
)  # fmt: skip
def test_glue_tasks_retry_only_glue_s_transient_errors(resource: str) -> None:
    [retrier] = asl_policy.retry_for({"Type": "Task", "Resource": resource})
    assert set(retrier["ErrorEquals"]) == {"Glue.ThrottlingException", "Glue.InternalServiceException",
                                           "Glue.OperationTimeoutException", "Glue.SdkClientException"}  # fmt: skip
    # a run that failed, a job already running and a crawl already running are not transient
    assert not {"States.TaskFailed", "Glue.ConcurrentRunsExceededException", "Glue.CrawlerRunningException"} & set(
        retrier["ErrorEquals"]
    )


def test_the_refresh_waits_for_a_crawl_already_running_and_alerts_on_any_other_glue_failure() -> None:
    states = json.loads((asl_policy.STATE_MACHINES / "analytics_refresh.asl.json").read_text())["States"]
    catches = states["CrawlAnalyticsData"]["Catch"]
    assert catches[0] == {"ErrorEquals": ["Glue.CrawlerRunningException"], "ResultPath": None, "Next": "WaitForCrawler"}
    for name in ("CrawlAnalyticsData", "GetCrawlerState", "FlattenTransactions"):
        assert states[name]["Catch"][-1]["ErrorEquals"] == ["States.ALL"]
        assert states[name]["Catch"][-1]["Next"] == "NotifyRefreshFailure"
    for name in ("CrawlFailed", "CrawlTimedOut"):
        assert states[name]["Next"] == "NotifyRefreshFailure"
    assert states["NotifyRefreshFailure"]["Next"] == "AnalyticsRefreshFailed"


def test_register_transaction_recognises_its_own_earlier_write() -> None:
    register = _transaction()["States"]["RegisterTransaction"]
    params = register["Parameters"]
    assert "execution_id = :this_execution" in params["ConditionExpression"]
    assert params["ExpressionAttributeValues"][":this_execution"] == {"S.$": "$$.Execution.Id"}
    # a failure past the retries is a processing failure, not a validation one
    [rest] = [c for c in register["Catch"] if c["ErrorEquals"] == ["States.ALL"]]
    assert rest["Next"] == "AttachProcessingError"


# --------------------------------------------------------------------------- the Lambda side
def _client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": "card 4242 from 10.1.2.3"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutItem",
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (botocore.exceptions.ConnectionClosedError(endpoint_url="http://10.1.2.3:5000"), StorageUnavailable),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="http://10.1.2.3:5000"), StorageUnavailable),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://10.1.2.3:5000"), StorageUnavailable),
        (_client_error("ThrottlingException", 400), StorageUnavailable),
        (_client_error("ProvisionedThroughputExceededException", 400), StorageUnavailable),
        (_client_error("InternalServerError", 500), StorageUnavailable),
        (_client_error("SomethingNew", 503), StorageUnavailable),
        (psycopg.OperationalError("server closed the connection for user alice"), DatabaseUnavailable),
        (_client_error("ValidationException", 400), None),
        (_client_error("ConditionalCheckFailedException", 400), None),
        (KeyError("transaction"), None),
    ],
)
def test_transport_and_service_faults_map_to_the_transient_classes(exc: Exception, expected: type | None) -> None:
    mapped = transient_service_error(exc)
    if expected is None:
        assert mapped is None
        return
    assert type(mapped) is expected
    # the message names the error class, never a value of the request (endpoint, card, address, user)
    for value in ("10.1.2.3", "4242", "alice"):
        assert value not in str(mapped)


def test_the_handler_decorator_raises_the_transient_class_and_lets_the_rest_through() -> None:
    @stable_errors
    def lost_connection(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise botocore.exceptions.ConnectionClosedError(endpoint_url="http://10.1.2.3:5000")

    @stable_errors
    def rejected(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise ItemNotFound("item_purchased.item_id: not in the shop catalogue")

    with pytest.raises(StorageUnavailable) as caught:
        lost_connection({}, None)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # the driver's text stays behind
    with pytest.raises(ItemNotFound):
        rejected({}, None)


_CANARY_CARD, _CANARY_IP = "4242", "192.0.2.77"


def _validation_error() -> Exception:
    from pydantic import ValidationError

    from contracts import Transaction

    try:
        Transaction.model_validate({"client_ip": _CANARY_IP, "payment_details": {"card_last4": _CANARY_CARD}})
    except ValidationError as exc:  # pydantic's text quotes input_value=...
        return exc
    raise AssertionError("the contract accepted an empty transaction")


@pytest.mark.parametrize(
    ("exc", "expected", "name"),
    [
        (psycopg.errors.UniqueViolation(f"Key (card)=({_CANARY_CARD}) already exists"), "DatabaseRejected", "23505"),
        (psycopg.errors.InvalidTextRepresentation(f'invalid input for type inet: "{_CANARY_IP}"'),
         "DatabaseRejected", "22P02"),
        (_client_error("ValidationException", 400), "ServiceRejected", "ValidationException"),
        (KeyError(_CANARY_IP), "UnexpectedError", "KeyError"),
        (ValueError(f"bad card {_CANARY_CARD}"), "UnexpectedError", "ValueError"),
        (_validation_error(), "UnexpectedError", "ValidationError"),
    ],
)  # fmt: skip
def test_no_library_text_leaves_a_handler(exc: Exception, expected: str, name: str) -> None:
    """Driver, SDK and Python errors leave as a permanent product error naming class and code only: their own
    text (a row's values, a request's key, pydantic's input_value) never reaches Step Functions."""
    assert _CANARY_CARD in str(exc) or _CANARY_IP in str(exc) or name == "ValidationException"

    @stable_errors
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise exc

    with pytest.raises(Exception) as caught:
        handler({}, None)
    assert type(caught.value).__name__ == expected
    assert name in str(caught.value)
    assert _CANARY_CARD not in str(caught.value) and _CANARY_IP not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
