"""The interpreter's service integrations served in-process (orchestration/runtime/moto_inprocess.py): a
botocore client whose requests reach a WSGI application without a socket, with the same answers, errors and
dropped connections as over HTTP. The application here is moto's own (its dispatcher), with the local stack's
fault layer in front."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from orchestration.runtime import moto_inprocess
from orchestration.runtime.faults import FaultInjector, FaultPlan
from orchestration.runtime.moto_dynamodb import patch_moto_dynamodb_writes

pytestmark = pytest.mark.unit

#: no server listens here: a request that leaves the process fails to connect
PORT = 9
NOWHERE = f"http://127.0.0.1:{PORT}"


@pytest.fixture
def app(fake_aws_env: None) -> Iterator[dict[str, Any]]:
    """moto's WSGI application behind a switchable fault layer; the in-process path pointed at it."""
    from moto.moto_api._internal import moto_api_backend

    patch_moto_dynamodb_writes()
    moto_api_backend.reset()
    holder: dict[str, Any] = {"app": DomainDispatcherApplication(create_backend_app)}
    holder["plain"] = holder["app"]
    moto_inprocess.serve_with(lambda: holder["app"], PORT)
    try:
        yield holder
    finally:
        moto_inprocess.serve_with(None)
        moto_api_backend.reset()


def _client(service: str) -> Any:
    config = Config(retries={"max_attempts": 0, "total_max_attempts": 1}, connect_timeout=1)
    c = boto3.client(service, region_name="us-east-1", endpoint_url=NOWHERE, config=config)
    c.meta.events.register("before-send", moto_inprocess.dispatch)
    return c


def _table(ddb: Any) -> None:
    ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")  # fmt: skip


def test_answers_and_service_errors_are_moto_s_without_a_socket(app: dict[str, Any]) -> None:
    ddb = _client("dynamodb")
    before = moto_inprocess.served
    _table(ddb)
    absent = "attribute_not_exists(pk)"
    ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "n": {"N": "1"}}, ConditionExpression=absent)
    with pytest.raises(ClientError) as refused:  # the interpreter names its error from this code
        ddb.put_item(TableName="t", Item={"pk": {"S": "a"}}, ConditionExpression=absent)
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    out = ddb.update_item(TableName="t", Key={"pk": {"S": "a"}}, UpdateExpression="SET n = n + :one",
                          ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="ALL_NEW")  # fmt: skip
    assert out["Attributes"]["n"] == {"N": "2"}
    assert moto_inprocess.served - before == 4  # every call was served here: NOWHERE refuses connections

    sqs = _client("sqs")  # another protocol (JSON with x-amz-target), a header-routed service
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["hello"]


def test_a_fault_layer_in_front_reaches_the_in_process_caller(app: dict[str, Any]) -> None:
    ddb = _client("dynamodb")
    _table(ddb)
    injector = FaultInjector(plan=FaultPlan(dynamodb=1.0), enabled=True)
    app["app"] = injector.wrap(app["plain"])  # as MotoServer.inject does: read at each call
    seen: set[str] = set()
    for i in range(40):
        try:
            ddb.put_item(TableName="t", Item={"pk": {"S": f"k{i}"}})
            seen.add("answered")
        except ConnectionClosedError:
            seen.add("dropped")
        except ClientError as exc:
            seen.add(exc.response["Error"]["Code"])
    assert {"ThrottlingException", "InternalServerError", "dropped"} <= seen
    assert "answered" not in seen
    kinds = {kind for (_service, kind) in injector.injected}
    assert {"reset_before", "reset_after"} <= kinds
    app["app"] = app["plain"]
    # a drop after the write: the item is there though its caller was told nothing
    stored = ddb.scan(TableName="t")["Count"]
    assert stored == injector.injected[("dynamodb", "reset_after")]


def test_an_error_in_the_application_is_a_500_as_over_http(app: dict[str, Any]) -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> Any:
        raise RuntimeError("a bug in the emulator")

    app["app"] = broken
    with pytest.raises(ClientError) as failed:
        _client("dynamodb").list_tables()
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def _goes_over_http(call: Any) -> None:
    before = moto_inprocess.served
    with pytest.raises(Exception) as failed:
        call()
    assert not isinstance(failed.value, ClientError)  # it tried the address itself, and could not connect
    assert moto_inprocess.served == before


def test_other_services_other_servers_and_a_stopped_server_go_over_http(app: dict[str, Any]) -> None:
    # S3 (a REST protocol: the bucket in the path or the host) is not taken, even at "/"
    _goes_over_http(lambda: _client("s3").list_buckets())
    _goes_over_http(lambda: _client("s3").list_objects_v2(Bucket="b"))
    # another port than the serving server's
    other = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:7",
                         config=Config(retries={"max_attempts": 0}, connect_timeout=1))  # fmt: skip
    other.meta.events.register("before-send", moto_inprocess.dispatch)
    _goes_over_http(other.list_tables)
    moto_inprocess.stop_serving(PORT + 1)  # another server's stop leaves this one serving
    assert _client("dynamodb").list_tables()["TableNames"] == []
    moto_inprocess.stop_serving(PORT)
    _goes_over_http(lambda: _client("dynamodb").list_tables())


# ------------------------------------------------------------ the interpreter's DynamoDB writes without the SDK


def test_a_dynamodb_write_answers_and_fails_as_the_sdk_client_does(app: dict[str, Any]) -> None:
    ddb = _client("dynamodb")
    _table(ddb)
    before = moto_inprocess.served
    absent = "attribute_not_exists(pk)"
    put = {"TableName": "t", "Item": {"pk": {"S": "a"}, "n": {"N": "1"}}, "ConditionExpression": absent}
    assert moto_inprocess.dynamodb_write("put_item", put, "us-east-1") == {}
    update = {"TableName": "t", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET m = :m",
              "ExpressionAttributeValues": {":m": {"S": "x"}}}  # fmt: skip
    sdk = ddb.update_item(**update)
    sdk.pop("ResponseMetadata")
    assert moto_inprocess.dynamodb_write("update_item", update, "us-east-1") == sdk  # what the interpreter keeps
    assert ddb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}, "n": {"N": "1"},
                                                                          "m": {"S": "x"}}  # fmt: skip
    assert moto_inprocess.served - before == 4  # two direct writes, and the SDK client's update and read

    with pytest.raises(ClientError) as direct:
        moto_inprocess.dynamodb_write("put_item", put, "us-east-1")
    with pytest.raises(ClientError) as through_sdk:
        ddb.put_item(**put)
    assert direct.value.response["Error"] == through_sdk.value.response["Error"]
    assert direct.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    metadata, sdk_metadata = direct.value.response["ResponseMetadata"], through_sdk.value.response["ResponseMetadata"]
    assert metadata["HTTPStatusCode"] == sdk_metadata["HTTPStatusCode"] == 400  # the interpreter's cause names it
    assert metadata["RequestId"] and sdk_metadata["RequestId"]  # and the request's id (each its own)
    assert direct.value.operation_name == "PutItem"


def test_a_dynamodb_write_meets_the_fault_layer(app: dict[str, Any]) -> None:
    _table(_client("dynamodb"))
    injector = FaultInjector(plan=FaultPlan(dynamodb=1.0), enabled=True)
    app["app"] = injector.wrap(app["plain"])
    seen: set[str] = set()
    for i in range(40):
        try:
            moto_inprocess.dynamodb_write("put_item", {"TableName": "t", "Item": {"pk": {"S": f"k{i}"}}}, "us-east-1")
            seen.add("answered")
        except ConnectionClosedError:
            seen.add("dropped")
        except ClientError as exc:
            seen.add(exc.response["Error"]["Code"])
    assert seen == {"ThrottlingException", "InternalServerError", "dropped"}


def test_what_a_dynamodb_write_does_not_take_goes_to_the_sdk(app: dict[str, Any]) -> None:
    item = {"TableName": "t", "Item": {"pk": {"S": "a"}}}
    for action, parameters in (("get_item", {"TableName": "t", "Key": {"pk": {"S": "a"}}}),
                               ("put_item", {**item, "ReturnValues": "ALL_OLD"}),
                               ("put_item", {**item, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}),
                               ("put_item", {**item, "ConditionExpresion": "attribute_not_exists(pk)"})):  # fmt: skip
        assert moto_inprocess.dynamodb_write(action, parameters, "us-east-1") is None
    moto_inprocess.stop_serving(PORT)
    assert moto_inprocess.dynamodb_write("put_item", item, "us-east-1") is None
