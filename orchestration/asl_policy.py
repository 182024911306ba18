"""The transient-error policy of every state machine, written once, and the rules every ASL file keeps.

Which errors are transient, per kind of Task:

- a Lambda function (``arn:aws:states:::lambda:invoke``): the Lambda service's own faults
  (``Lambda.ServiceException``, ``Lambda.AWSLambdaException``, ``Lambda.SdkClientException``,
  ``Lambda.TooManyRequestsException``, ``Lambda.Unknown``: the container died; ``Sandbox.Timedout``:
  the function outlived its timeout, its work maybe done, the answer lost: every handler is idempotent)
  and the function's transient classes: ``StorageUnavailable`` (an AWS service it calls was
  unreachable, throttled or answered 5xx; ``lambdas.common.errors.stable_errors`` maps
  botocore's errors to it) and ``DatabaseUnavailable`` (PostgreSQL unreachable or the
  connection lost: a restart, an RDS Multi-AZ failover of 60-120 s);
- DynamoDB, SQS and SNS integrations: their throttling, 5xx and SDK client errors
  (``DynamoDB.AmazonDynamoDBException`` is how Step Functions names a DynamoDB failure with no
  more specific class, a connection reset among them);
- Glue (``arn:aws:states:::glue:startJobRun.sync``, ``arn:aws:states:::aws-sdk:glue:*``): Step Functions
  names a Glue API error ``Glue.<exception>``; transient are ``ThrottlingException``,
  ``InternalServiceException`` (a 5xx), ``OperationTimeoutException`` and the SDK's
  ``SdkClientException`` (the call never reached Glue). Not retried: ``ConcurrentRunsExceededException``
  (the job allows one run at a time and a run takes minutes, longer than any Retry here: the refresh
  alerts and the next one catches up from the bookmarks), ``CrawlerRunningException`` (the ASL catches it:
  a crawl already running is waited for), ``EntityNotFoundException``/``InvalidInputException`` (a
  deployment error), and a run that ended FAILED, TIMEOUT or ERROR (``States.TaskFailed``: the job's own
  failure, never transient here).

How long: full jitter on every Retry, each delay capped (``MaxDelaySeconds``). The budget of a
Retry is the sum of its capped delays: at least :data:`DB_BUDGET_FLOOR` seconds (3 min) for
``DatabaseUnavailable``, so a failover is outlasted; the others at least
:data:`SERVICE_BUDGET_FLOOR`. ``States.ALL`` is never retried (it would retry what can never
succeed), and a permanent error (``InvalidTransaction``, ``ItemNotFound``, ...) is never retried.

The rules :func:`problems` checks on every state machine (tests/unit/test_asl_policy.py):
every Task, Map and Parallel state is covered by a Catch, its own or an enclosing Map's or
Parallel's; no Retry names ``States.ALL``; every Retry has full jitter and a delay cap;
every Retry of a Task is the policy's (:func:`retry_for`). ``python -m orchestration.asl_policy``
rewrites the Retry blocks of the ASL files from this policy (``--check`` only reports drift).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_MACHINES = Path(__file__).resolve().parent / "state_machines"

LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
    "Sandbox.Timedout",
)
#: a DynamoDB 500 is ``InternalServerErrorException`` in AWS (the SDK's class name) and ``InternalServerError``
#: where the error is named from the wire code (the local interpreter); the soak found the second unretried
DYNAMODB_TRANSIENT = (
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.ThrottlingException",
    "DynamoDB.RequestLimitExceeded",
    "DynamoDB.InternalServerErrorException",
    "DynamoDB.InternalServerError",
    "DynamoDB.AmazonDynamoDBException",
    "DynamoDB.SdkClientException",
)
SQS_TRANSIENT = ("SQS.SdkClientException", "SQS.AmazonSQSException", "SQS.KmsThrottledException")
SNS_TRANSIENT = (
    "SNS.ThrottledException",
    "SNS.InternalErrorException",
    "SNS.KMSThrottlingException",
    "SNS.SdkClientException",
    "SNS.AmazonSNSException",
)
GLUE_TRANSIENT = (
    "Glue.ThrottlingException",
    "Glue.InternalServiceException",
    "Glue.OperationTimeoutException",
    "Glue.SdkClientException",
)
DATABASE_ERRORS = ("DatabaseUnavailable",)
STORAGE_ERRORS = ("StorageUnavailable",)

DB_BUDGET_FLOOR = 180.0
SERVICE_BUDGET_FLOOR = 30.0


@dataclass(frozen=True)
class Backoff:
    interval: int
    max_attempts: int
    rate: float
    max_delay: int

    def budget(self) -> float:
        """Seconds of waiting the Retry allows at most: the sum of its capped delays."""
        return budget(self.interval, self.max_attempts, self.rate, self.max_delay)

    def retrier(self, errors: tuple[str, ...]) -> dict[str, Any]:
        return {
            "ErrorEquals": list(errors),
            "IntervalSeconds": self.interval,
            "MaxAttempts": self.max_attempts,
            "BackoffRate": self.rate,
            "MaxDelaySeconds": self.max_delay,
            "JitterStrategy": "FULL",
        }


def budget(interval: float, attempts: int, rate: float, max_delay: float | None) -> float:
    cap = float("inf") if max_delay is None else max_delay
    return sum(min(interval * rate**i, cap) for i in range(attempts))


#: the database: 2+4+8+16+30x6 = 210 s of capped delays, past an RDS failover (60-120 s)
DATABASE = Backoff(interval=2, max_attempts=10, rate=2.0, max_delay=30)
#: S3/DynamoDB/SQS/SNS behind a function, and the integrations (DynamoDB, SQS, SNS, Glue): 1+2+4+8+16+20x2 = 71 s
SERVICE = Backoff(interval=1, max_attempts=7, rate=2.0, max_delay=20)
#: the Lambda service itself (throttled, a container lost): 1+2+4+8+10x3 = 45 s
LAMBDA = Backoff(interval=1, max_attempts=7, rate=2.0, max_delay=10)


#: Named conditions that are not transient faults but may clear within an execution's life, per function: a
#: missing FX rate (the daily table may be being refreshed) is retried 10+20+40+60 = 130 s, inside an Express
#: execution's 5 minutes, then caught and dead-lettered with its name (a redrive retries it later).
FX_RATE = Backoff(interval=10, max_attempts=4, rate=2.0, max_delay=60)
RETRIED_LATER: dict[str, tuple[tuple[Backoff, tuple[str, ...]], ...]] = {
    "enrich_transaction": ((FX_RATE, ("FxRateMissing",)),),
}


def _function_short(state: dict[str, Any]) -> str:
    name = str(state.get("Parameters", {}).get("FunctionName", ""))
    return name[2 : -len("_function_arn}")] if name.startswith("${") and name.endswith("_function_arn}") else ""


def retry_for(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The policy's Retry for one Task state, from what it calls."""
    resource = str(state.get("Resource", ""))
    later = [backoff.retrier(errors) for backoff, errors in RETRIED_LATER.get(_function_short(state), ())]
    # the optimised integration, a plain function ARN, or one filled in by Terraform (${<name>_function_arn})
    plain_function = resource.startswith("arn:aws:lambda:") or (
        resource.startswith("${") and resource.endswith("_function_arn}")
    )
    if resource == "arn:aws:states:::lambda:invoke" or plain_function:
        return [
            *later,
            DATABASE.retrier(DATABASE_ERRORS),
            SERVICE.retrier(STORAGE_ERRORS),
            LAMBDA.retrier(LAMBDA_SERVICE_ERRORS),
        ]
    if resource.startswith("arn:aws:states:::dynamodb:"):
        return [SERVICE.retrier(DYNAMODB_TRANSIENT)]
    if resource.startswith("arn:aws:states:::sqs:"):
        return [SERVICE.retrier(SQS_TRANSIENT)]
    if resource.startswith("arn:aws:states:::sns:"):
        return [SERVICE.retrier(SNS_TRANSIENT)]
    if resource.startswith(("arn:aws:states:::glue:", "arn:aws:states:::aws-sdk:glue:")):
        return [SERVICE.retrier(GLUE_TRANSIENT)]
    raise ValueError(f"no transient-error policy for Task resource {resource!r}: add one to orchestration/asl_policy")


# --------------------------------------------------------------------------- walking a definition
@dataclass(frozen=True)
class Located:
    path: str  # "StoreTransaction/branch 0/StoreComplianceRecord"
    state: dict[str, Any]
    covered_by_enclosing: bool  # an enclosing Map or Parallel has a Catch


def states(definition: dict[str, Any], prefix: str = "", covered: bool = False) -> Iterator[Located]:
    for name, state in definition["States"].items():
        path = f"{prefix}{name}"
        yield Located(path, state, covered)
        inner_covered = covered or bool(state.get("Catch"))
        if state["Type"] == "Parallel":
            for i, branch in enumerate(state["Branches"]):
                yield from states(branch, f"{path}/branch {i}/", inner_covered)
        elif state["Type"] == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator")
            yield from states(processor, f"{path}/", inner_covered)


def problems(definition: dict[str, Any]) -> list[str]:
    """Every breach of the rules in one definition; empty when it keeps them all."""
    found: list[str] = []
    for at in states(definition):
        st = at.state
        if st["Type"] in ("Task", "Map", "Parallel") and not (st.get("Catch") or at.covered_by_enclosing):
            found.append(f"{at.path}: a {st['Type']} state not covered by any Catch")
        for i, retrier in enumerate(st.get("Retry", [])):
            where = f"{at.path}: Retry {i}"
            if "States.ALL" in retrier["ErrorEquals"]:
                found.append(f"{where} retries States.ALL")
            if retrier.get("JitterStrategy") != "FULL":
                found.append(f"{where} has no full jitter")
            if "MaxDelaySeconds" not in retrier:
                found.append(f"{where} has no MaxDelaySeconds")
            spent = budget(
                retrier.get("IntervalSeconds", 1),
                retrier.get("MaxAttempts", 3),
                retrier.get("BackoffRate", 2.0),
                retrier.get("MaxDelaySeconds"),
            )
            floor = DB_BUDGET_FLOOR if set(retrier["ErrorEquals"]) & set(DATABASE_ERRORS) else SERVICE_BUDGET_FLOOR
            if spent < floor:
                found.append(f"{where} waits {spent:.0f} s at most, under its floor of {floor:.0f} s")
        if st["Type"] == "Task" and st.get("Retry") != retry_for(st):
            found.append(f"{at.path}: Retry is not the policy's (python -m orchestration.asl_policy rewrites it)")
    return found


def apply(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition with every Task's Retry set to the policy's (in place; returned for chaining)."""
    for at in states(definition):
        if at.state["Type"] == "Task":
            at.state["Retry"] = retry_for(at.state)
    return definition


def asl_files() -> list[Path]:
    return sorted(STATE_MACHINES.glob("*.asl.json"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift and breaches, change nothing")
    args = parser.parse_args(argv)
    status = 0
    for path in asl_files():
        text = path.read_text()
        definition = json.loads(text)
        rewritten = json.dumps(apply(json.loads(text)), indent=2, ensure_ascii=False) + "\n"
        if args.check:
            for problem in problems(definition):
                print(f"{path.name}: {problem}")
                status = 1
        elif rewritten != text:
            path.write_text(rewritten)
            print(f"rewrote the Retry blocks of {path.name}")
        if not args.check:
            for problem in problems(json.loads(rewritten)):
                print(f"{path.name}: {problem}")
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
