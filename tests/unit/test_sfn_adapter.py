"""The Step Functions adapter on its own: small definitions through moto's vendored interpreter.

Each construct the workflows rely on (Lambda Task both ways, Choice, Parallel,
Map, Retry, Catch on the exception class name, SQS/SNS/DynamoDB integrations,
JSONata, Wait) is executed for real, so a moto upgrade that moves the private
names we patch fails here first.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestration.runtime import sfn

pytestmark = pytest.mark.unit
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/sfn"


class Flaky(Exception):
    pass


class Rejected(Exception):
    pass


@pytest.fixture
def aws() -> Iterator[Any]:
    sfn.install(time_scale=0.0)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield lambda svc: boto3.client(svc, region_name=REGION)
    sfn.REGISTRY.clear()


def fn_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:123456789012:function:{name}"


def execute(clients: Any, definition: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    client = clients("stepfunctions")
    arn = client.create_state_machine(
        name=f"sm-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    ex = client.start_execution(stateMachineArn=arn, name=uuid.uuid4().hex, input=json.dumps(payload))
    for _ in range(2000):
        d = client.describe_execution(executionArn=ex["executionArn"])
        if d["status"] != "RUNNING":
            return dict(d)
        time.sleep(0.005)
    raise TimeoutError


def test_plain_arn_and_lambda_invoke_reach_python_handlers(aws: Any) -> None:
    sfn.REGISTRY.register("double", lambda event, ctx: {"n": event["n"] * 2, "fn": ctx.function_name})
    definition = {
        "StartAt": "Plain",
        "States": {
            "Plain": {"Type": "Task", "Resource": fn_arn("double"), "Next": "Optimised"},
            "Optimised": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": fn_arn("double"), "Payload": {"n.$": "$.n"}},
                "OutputPath": "$.Payload", "End": True,
            },
        },
    }  # fmt: skip
    d = execute(aws, definition, {"n": 3})
    assert d["status"] == "SUCCEEDED"
    assert json.loads(d["output"]) == {"n": 12, "fn": "double"}


def test_retry_then_catch_match_the_exception_class_name(aws: Any) -> None:
    calls = {"n": 0}

    def flaky(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] < 3:
            raise Flaky("try again")
        raise Rejected(f"field x: rejected after {calls['n']} calls")

    sfn.REGISTRY.register("flaky", flaky)
    definition = {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task", "Resource": fn_arn("flaky"),
                "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 5, "MaxAttempts": 5, "BackoffRate": 2}],
                "Catch": [{"ErrorEquals": ["Rejected"], "ResultPath": "$.error", "Next": "Handled"}],
                "End": True,
            },
            "Handled": {"Type": "Pass", "End": True},
        },
    }  # fmt: skip
    started = time.monotonic()
    d = execute(aws, definition, {})
    assert d["status"] == "SUCCEEDED"
    error = json.loads(d["output"])["error"]
    assert error["Error"] == "Rejected"
    assert json.loads(error["Cause"])["errorMessage"] == "field x: rejected after 3 calls"
    assert calls["n"] == 3
    # 5 s + 10 s of backoff were scaled to zero
    assert time.monotonic() - started < 5


def test_uncaught_error_fails_the_execution_with_its_name(aws: Any) -> None:
    def boom(event: dict[str, Any], ctx: Any) -> None:
        raise Rejected("nope")

    sfn.REGISTRY.register("boom", boom)
    d = execute(aws, {"StartAt": "W", "States": {"W": {"Type": "Task", "Resource": fn_arn("boom"), "End": True}}}, {})
    assert d["status"] == "FAILED"
    assert d["error"] == "Rejected"


def test_choice_parallel_and_map(aws: Any) -> None:
    sfn.REGISTRY.register("square", lambda e, c: e["v"] ** 2)
    definition = {
        "StartAt": "Route",
        "States": {
            "Route": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.mode", "StringEquals": "fanout", "Next": "Both"}],
                "Default": "Nope",
            },
            "Nope": {"Type": "Fail", "Error": "WrongMode"},
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Squares", "States": {"Squares": {
                        "Type": "Map", "ItemsPath": "$.values", "MaxConcurrency": 2,
                        "ItemProcessor": {"StartAt": "Sq", "States": {"Sq": {
                            "Type": "Task", "Resource": fn_arn("square"), "Parameters": {"v.$": "$"}, "End": True}}},
                        "End": True}}},
                    {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "Result": "side", "End": True}}},
                ],
                "End": True,
            },
        },
    }  # fmt: skip
    d = execute(aws, definition, {"mode": "fanout", "values": [1, 2, 3]})
    assert d["status"] == "SUCCEEDED"
    assert json.loads(d["output"]) == [[1, 4, 9], "side"]
    assert execute(aws, definition, {"mode": "other", "values": []})["error"] == "WrongMode"


def test_sqs_sns_dynamodb_integrations(aws: Any) -> None:
    sqs, sns, ddb = aws("sqs"), aws("sns"), aws("dynamodb")
    queue = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"})
    ddb.create_table(
        TableName="status", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    put = {
        "Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
        "Parameters": {"TableName": "status", "Item": {"id": {"S.$": "$.id"}},
                       "ConditionExpression": "attribute_not_exists(id)"},
        "ResultPath": None,
        "Catch": [{"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "ResultPath": None, "Next": "Dup"}],
        "Next": "Dlq",
    }  # fmt: skip
    definition = {
        "StartAt": "Put",
        "States": {
            "Put": put,
            "Dup": {"Type": "Pass", "Result": {"outcome": "duplicate"}, "End": True},
            "Dlq": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                    "Parameters": {"QueueUrl": queue, "MessageBody.$": "$"}, "ResultPath": None, "Next": "Alert"},
            "Alert": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                      "Parameters": {"TopicArn": topic, "Message.$": "$"}, "ResultPath": None, "End": True},
        },
    }  # fmt: skip
    assert execute(aws, definition, {"id": "a"})["status"] == "SUCCEEDED"
    assert json.loads(execute(aws, definition, {"id": "a"})["output"]) == {"outcome": "duplicate"}
    assert ddb.get_item(TableName="status", Key={"id": {"S": "a"}})["Item"]["id"]["S"] == "a"
    [msg] = sqs.receive_message(QueueUrl=queue)["Messages"]
    assert json.loads(msg["Body"]) == {"id": "a"}
    [alert] = sqs.receive_message(QueueUrl=inbox)["Messages"]
    assert json.loads(alert["Body"]) == {"id": "a"}


def test_jsonata_and_wait(aws: Any) -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Nap",
        "States": {
            "Nap": {"Type": "Wait", "Seconds": 3600, "Next": "Sum"},
            "Sum": {"Type": "Pass", "Output": "{% $sum($states.input.values) * 2 %}", "End": True},
        },
    }
    started = time.monotonic()
    d = execute(aws, definition, {"values": [1, 2, 3.5]})
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"]) == 13
    assert time.monotonic() - started < 10


def test_glue_start_job_run_sync_waits_for_the_run_and_fails_a_failed_run_as_aws(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto's Glue .sync fails every run with States.Runtime ('NoneType' ... 'interrupt_all'); the local runtime's
    own _eval_integration_pattern for the Glue integration polls the run to its end (sfn.py)."""
    from orchestration.runtime import glue as standins

    standins.patch_moto_glue()
    runs: list[dict[str, str]] = []

    def job(name: str, run_id: str, arguments: dict[str, str]) -> str:
        runs.append(arguments)
        time.sleep(0.6)  # still RUNNING at the first GetJobRun: the task must wait for the end
        if arguments.get("--fail") == "yes":
            raise RuntimeError("warehouse unreachable")
        return "done"

    monkeypatch.setitem(standins.RUNNERS, "job", job)
    aws("glue").create_job(Name=f"mtx-{standins.JOB_SUFFIX}", Role=ROLE,
                           Command={"Name": "glueetl", "ScriptLocation": "s3://scripts/job.py"})  # fmt: skip
    definition = {
        "StartAt": "Run",
        "States": {
            "Run": {
                "Type": "Task", "Resource": "arn:aws:states:::glue:startJobRun.sync",
                "Parameters": {"JobName": f"mtx-{standins.JOB_SUFFIX}", "Arguments": {"--fail.$": "$.fail"}},
                "ResultSelector": {"state.$": "$.JobRunState", "id.$": "$.Id"},
                "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Failed"}], "End": True,
            },
            "Failed": {"Type": "Pass", "Parameters": {"error.$": "$.Error", "run.$": "States.StringToJson($.Cause)"},
                       "End": True},
        },
    }  # fmt: skip
    ok = execute(aws, definition, {"fail": "no"})
    assert ok["status"] == "SUCCEEDED", ok
    assert json.loads(ok["output"])["state"] == "SUCCEEDED"
    failed = execute(aws, definition, {"fail": "yes"})
    assert failed["status"] == "SUCCEEDED", failed
    out = json.loads(failed["output"])
    assert out["error"] == "States.TaskFailed"
    assert (out["run"]["JobRunState"], out["run"]["ErrorMessage"]) == ("FAILED", "RuntimeError: warehouse unreachable")
    assert runs == [{"--fail": "no"}, {"--fail": "yes"}]
    standins.wait_for_runs(10)


def test_aws_sdk_glue_errors_are_named_as_in_aws(aws: Any) -> None:
    """Step Functions names an aws-sdk error <Service>.<exception>, the service in PascalCase: Glue.*."""
    glue = aws("glue")
    glue.create_database(DatabaseInput={"Name": "db"})
    glue.create_crawler(Name="c", Role=ROLE, DatabaseName="db", Targets={"S3Targets": [{"Path": "s3://b/t/"}]})
    glue.start_crawler(Name="c")  # moto's own crawl (not ours): RUNNING until it is stopped
    definition = {
        "StartAt": "Start",
        "States": {
            "Start": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:glue:startCrawler",
                      "Parameters": {"Name": "c"}, "End": True,
                      "Catch": [{"ErrorEquals": ["Glue.CrawlerRunningException"], "Next": "Running"}]},
            "Running": {"Type": "Pass", "End": True},
        },
    }  # fmt: skip
    d = execute(aws, definition, {})
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"])["Error"] == "Glue.CrawlerRunningException"


def test_render_definition_refuses_missing_placeholders(tmp_path: Any) -> None:
    path = tmp_path / "x.asl.json"
    path.write_text('{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${fn}", "End": true}}}')
    with pytest.raises(sfn.MissingPlaceholder, match="fn"):
        sfn.render_definition(path, {})
    assert json.loads(sfn.render_definition(path, {"fn": "arn:x"}))["States"]["A"]["Resource"] == "arn:x"


def test_unregistered_function_is_a_loud_failure(aws: Any) -> None:
    d = execute(aws, {"StartAt": "W", "States": {"W": {"Type": "Task", "Resource": fn_arn("ghost"), "End": True}}}, {})
    assert d["status"] == "FAILED"


# --- ValidateStateMachineDefinition (Terraform's aws_sfn_state_machine calls it before creating) ------------


@pytest.mark.parametrize("path", sorted(sfn.STATE_MACHINES_DIR.glob("*.asl.json")), ids=lambda p: p.stem)
def test_validate_state_machine_definition_accepts_every_workflow_of_the_project(aws: Any, path: Any) -> None:
    values = {name: fn_arn(name) for name in sfn.placeholders(path.read_text())}
    result = aws("stepfunctions").validate_state_machine_definition(
        definition=sfn.render_definition(path, values), type="STANDARD"
    )
    assert result["result"] == "OK", result["diagnostics"]
    assert result["diagnostics"] == []


@pytest.mark.parametrize(
    ("definition", "code"),
    [
        ("{not json", "INVALID_JSON_DESCRIPTION"),
        (json.dumps({"StartAt": "Missing", "States": {"A": {"Type": "NoSuchType", "End": True}}}),
         "SCHEMA_VALIDATION_FAILED"),
    ],
)  # fmt: skip
def test_validate_state_machine_definition_fails_a_broken_definition_with_a_diagnostic(
    aws: Any, definition: str, code: str
) -> None:
    result = aws("stepfunctions").validate_state_machine_definition(definition=definition)
    assert result["result"] == "FAIL"
    assert [d["code"] for d in result["diagnostics"]] == [code]
    assert all(d["severity"] == "ERROR" and d["message"] for d in result["diagnostics"])


def test_list_state_machine_versions_lists_published_versions_newest_first(aws: Any) -> None:
    client = aws("stepfunctions")
    definition = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    arn = client.create_state_machine(name="versions", definition=definition, roleArn=ROLE)["stateMachineArn"]
    assert client.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"] == []
    client.update_state_machine(stateMachineArn=arn, definition=definition, publish=True)
    client.update_state_machine(stateMachineArn=arn, definition=definition, publish=True)
    versions = client.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in versions] == [f"{arn}:2", f"{arn}:1"]


def test_a_burst_of_starts_runs_at_most_the_bound_at_once_and_every_execution_ends(aws: Any) -> None:
    """The local runtime evaluates at most sfn.MAX_RUNNING_EXECUTIONS executions at once; the rest wait,
    RUNNING, for a slot (a burst of 2.5x the bound here), and every one of them ends."""
    import threading

    running = {"now": 0, "most": 0}
    lock = threading.Lock()

    def slow(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
        time.sleep(0.5)  # longer than the whole burst takes to start: unbounded, all would run at once
        with lock:
            running["now"] -= 1
        return {"n": event["n"]}

    sfn.REGISTRY.register("slow", slow)
    client = aws("stepfunctions")
    definition = {"StartAt": "W", "States": {"W": {"Type": "Task", "Resource": fn_arn("slow"), "End": True}}}
    arn = client.create_state_machine(
        name=f"sm-{uuid.uuid4().hex[:8]}", roleArn=ROLE, definition=json.dumps(definition)
    )["stateMachineArn"]
    burst = int(sfn.MAX_RUNNING_EXECUTIONS * 2.5)
    arns = [
        client.start_execution(stateMachineArn=arn, name=uuid.uuid4().hex, input=json.dumps({"n": i}))["executionArn"]
        for i in range(burst)
    ]
    deadline = time.monotonic() + 60
    statuses: list[str] = []
    while time.monotonic() < deadline:
        statuses = [client.describe_execution(executionArn=a)["status"] for a in arns]
        if "RUNNING" not in statuses:
            break
        time.sleep(0.05)
    assert statuses == ["SUCCEEDED"] * burst
    assert 1 < running["most"] <= sfn.MAX_RUNNING_EXECUTIONS


def test_executions_run_on_kept_threads_and_untimed_tasks_on_the_executions_own(aws: Any) -> None:
    """The runtime keeps at most MAX_RUNNING_EXECUTIONS execution threads and reuses them (a thread per
    execution before); an untimed Task state runs on its execution's thread (moto started one per Task state),
    while a Task state with ``TimeoutSeconds``, ``TimeoutSecondsPath`` or ``HeartbeatSeconds`` (moto then times it
    out at 60 s) keeps a thread of its own; the ``TimeoutSecondsPath`` one and a state machine with ``TimeoutSeconds``
    are shown still timing out."""
    import threading

    seen: list[threading.Thread] = []  # the Thread objects themselves: an ended thread's ident can come back

    def where(event: dict[str, Any], ctx: Any) -> dict[str, Any]:
        seen.append(threading.current_thread())
        time.sleep(event.get("sleep", 0))
        return {"thread": threading.current_thread().name}

    sfn.REGISTRY.register("where", where)
    client = aws("stepfunctions")

    def machine(definition: dict[str, Any]) -> str:
        return str(client.create_state_machine(name=f"sm-{uuid.uuid4().hex[:8]}", roleArn=ROLE,
                                               definition=json.dumps(definition))["stateMachineArn"])  # fmt: skip

    def task(**more: Any) -> dict[str, Any]:
        return {"Type": "Task", "Resource": fn_arn("where"), **more}

    tasks = machine({"StartAt": "Untimed", "States": {
        "Untimed": task(ResultPath="$.untimed", Next="Heartbeat"),
        "Heartbeat": task(HeartbeatSeconds=5, ResultPath="$.heartbeat", Next="Literal"),
        "Literal": task(TimeoutSeconds=60, ResultPath="$.literal", Next="Timed"),
        "Timed": task(TimeoutSecondsPath="$.timeout", ResultPath="$.timed",
                      Catch=[{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Done"}],
                      Next="Done"),
        "Done": {"Type": "Succeed"}}})  # fmt: skip
    whole = machine({"TimeoutSeconds": 1, "StartAt": "Slow", "States": {"Slow": task(End=True)}})

    def run(arn: str, payload: dict[str, Any]) -> str:
        return str(client.start_execution(stateMachineArn=arn, name=uuid.uuid4().hex,
                                          input=json.dumps(payload))["executionArn"])  # fmt: skip

    quick = [run(tasks, {"timeout": 60}) for _ in range(3 * sfn.MAX_RUNNING_EXECUTIONS)]
    slow_task = run(tasks, {"timeout": 1, "sleep": 3})  # each of its tasks sleeps 3 s: the Timed one times out
    slow_machine = run(whole, {"sleep": 3})
    everything = [*quick, slow_task, slow_machine]
    deadline = time.monotonic() + 90
    ended: dict[str, Any] = {}
    while time.monotonic() < deadline and len(ended) < len(everything):
        for a in everything:
            d = client.describe_execution(executionArn=a)
            if d["status"] != "RUNNING":
                ended[a] = d
        time.sleep(0.05)
    assert len(ended) == len(everything), f"{len(everything) - len(ended)} executions still running"
    for a in quick:
        assert ended[a]["status"] == "SUCCEEDED", ended[a]
        out = json.loads(ended[a]["output"])
        assert out["untimed"]["thread"] == "mtx-sfn-execution"  # the execution's own thread
        for timed in ("heartbeat", "literal", "timed"):
            assert out[timed]["thread"] != "mtx-sfn-execution", timed  # a thread of its own, for its timeout
    timed_out = json.loads(ended[slow_task]["output"])
    assert timed_out["error"]["Error"] == "States.Timeout" and "timed" not in timed_out
    assert ended[slow_machine]["status"] == "TIMED_OUT"
    execution_threads = {t for t in seen if t.name == "mtx-sfn-execution"}
    assert 1 < len(execution_threads) <= sfn.MAX_RUNNING_EXECUTIONS  # 50 executions, 16 threads at most


def test_a_forked_child_runs_its_executions_on_threads_of_its_own() -> None:
    """The kept execution threads are the parent's: a forked child that submits an execution gets a thread of its
    own (with the parent's pool, which the child believes full, the run would wait for ever)."""
    import os
    import threading

    ran = threading.Event()
    for _ in range(sfn.MAX_RUNNING_EXECUTIONS):  # the parent's pool has all its threads
        sfn._execution_threads.submit(lambda: None)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one execution, then its verdict through the pipe
        try:
            sfn._execution_threads.submit(ran.set)
            os.write(write, b"1" if ran.wait(10) else b"0")
        finally:
            os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == b"1"
    finally:
        os.close(read)
        os.waitpid(pid, 0)
