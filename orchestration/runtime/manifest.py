"""Every AWS resource the pipeline uses, created against the local moto server as Terraform creates it in AWS.

The resources themselves (the manifest: ``build()``, the Lambda functions of
``infra/functions.json``, the names Terraform gives them) are in ``orchestration/runtime/resources.py``;
reading their key settings back from a running stack is ``orchestration/runtime/key_settings.py``.
Both are re-exported here, so ``manifest.build()``, ``manifest.provision()`` and
``manifest.key_settings()`` stay one import.

``provision()`` creates them against an endpoint (the local moto server) with
the same key settings Terraform gives them in AWS: encryption, versioning,
public access blocked, point-in-time recovery, the alert topic's queue
subscription. Terraform's modules are checked against the manifest by tests.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from orchestration.runtime import sfn
from orchestration.runtime.key_settings import key_settings
from orchestration.runtime.resources import (
    FUNCTIONS,
    FUNCTIONS_FILE,
    LAMBDAS,
    SCHEDULED,
    STREAM_RETENTION_HOURS,
    SWEEP_PENDING_SCHEDULE,
    WORKFLOWS,
    Function,
    Manifest,
    StateMachine,
    Table,
    alerts_inbox_name,
    build,
    data_key_alias,
    failed_executions_pattern,
    failed_executions_rule_name,
    glue_crawler_name,
    glue_job_name,
    incoming_event_pattern,
    incoming_rule_name,
    load_functions,
    schedule_rule_name,
    stream_failures_queue_name,
    stream_name,
    sweep_pending_rule_name,
    trigger_queue_name,
)
from orchestration.settings import Settings

__all__ = [
    "FUNCTIONS",
    "FUNCTIONS_FILE",
    "LAMBDAS",
    "SCHEDULED",
    "STREAM_RETENTION_HOURS",
    "SWEEP_PENDING_SCHEDULE",
    "WORKFLOWS",
    "Function",
    "Manifest",
    "Provisioned",
    "StateMachine",
    "Table",
    "add_local_runtime_parts",
    "alerts_inbox_name",
    "build",
    "create_glue_crawler_and_job",
    "data_key",
    "data_key_alias",
    "failed_executions_pattern",
    "failed_executions_rule_name",
    "glue_crawler_name",
    "glue_job_name",
    "incoming_event_pattern",
    "incoming_rule_name",
    "key_settings",
    "load_functions",
    "provision",
    "put_lambda_rules",
    "register_lambdas",
    "schedule_rule_name",
    "stream_failures_queue_name",
    "stream_name",
    "sweep_pending_rule_name",
    "trigger_queue_name",
]


def create_glue_crawler_and_job(glue: Any, s: Settings) -> None:
    """The crawler and the job Terraform's glue module creates (infra/terraform/modules/glue), idempotently.

    The analytics refresh state machine starts them through the Glue API (aws-sdk:glue:startCrawler,
    glue:startJobRun.sync); behind it the local runtime runs them (orchestration/runtime/glue.py).
    """
    from orchestration.runtime.glue_crawler import load_definition

    definition = load_definition()
    raw = definition.raw
    target = {"Path": f"s3://{s.analytics_bucket}/{definition.table_prefix}",
              "Exclusions": list(definition.exclusions), "SampleSize": definition.sample_size}  # fmt: skip
    with contextlib.suppress(glue.exceptions.AlreadyExistsException):
        glue.create_crawler(
            Name=glue_crawler_name(s),
            Role=f"arn:aws:iam::{s.account_id}:role/{s.name_prefix}-glue-crawler",
            DatabaseName=s.glue_database, Description=str(raw.get("description", "")),
            Targets={"S3Targets": [target]},
            SchemaChangePolicy={"UpdateBehavior": definition.update_behavior,
                                "DeleteBehavior": definition.delete_behavior},
            RecrawlPolicy={"RecrawlBehavior": definition.recrawl_behavior},
            Configuration=json.dumps(raw.get("configuration", {})),
        )  # fmt: skip
    already = (glue.exceptions.AlreadyExistsException, glue.exceptions.IdempotentParameterMismatchException)
    with contextlib.suppress(*already):
        glue.create_job(
            Name=glue_job_name(s),
            Role=f"arn:aws:iam::{s.account_id}:role/{s.name_prefix}-glue-job",
            Command={"Name": "glueetl", "PythonVersion": "3",
                     "ScriptLocation": f"s3://{s.glue_scripts_bucket}/jobs/flatten_transactions/job.py"},
            GlueVersion="5.1", ExecutionProperty={"MaxConcurrentRuns": 1},
            DefaultArguments={"--database": s.glue_database, "--table": "transactions",
                              "--curated_bucket": s.curated_bucket,
                              "--warehouse_secret_id": s.warehouse_transformer_secret_id},
        )  # fmt: skip


@dataclass
class Provisioned:
    queue_urls: dict[str, str]
    state_machine_arns: dict[str, str]
    alerts_inbox_url: str
    trigger_queue_url: str


def provision(manifest: Manifest, clients: Any, secrets: dict[str, dict[str, Any]]) -> Provisioned:
    """Create every resource (idempotent). ``clients(service)`` returns a boto3 client."""
    s = manifest.settings
    key_arn = data_key(clients, s)
    s3 = clients("s3")
    for bucket in manifest.buckets:
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )

    ddb = clients("dynamodb")
    existing_tables = set(ddb.list_tables()["TableNames"])
    for table in manifest.tables:
        if table.name not in existing_tables:
            keys = [(table.hash_key, "HASH")] + ([(table.range_key, "RANGE")] if table.range_key else [])
            ddb.create_table(
                TableName=table.name,
                KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
                AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
                BillingMode="PAY_PER_REQUEST",
                SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn},
            )
        ddb.update_continuous_backups(
            TableName=table.name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        if table.ttl_attribute:
            ddb.update_time_to_live(
                TableName=table.name, TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute}
            )

    sqs = clients("sqs")
    queue_urls: dict[str, str] = {}
    for queue in manifest.queues:
        queue_urls[queue] = _create_queue(sqs, queue, key_arn)

    sns = clients("sns")
    for topic in manifest.topics:
        sns.create_topic(Name=topic, Attributes={"KmsMasterKeyId": key_arn})

    sm = clients("secretsmanager")
    for secret_id in manifest.secrets:
        value = json.dumps(secrets[secret_id])
        try:
            sm.create_secret(Name=secret_id, SecretString=value, KmsKeyId=key_arn)
        except sm.exceptions.ResourceExistsException:
            sm.put_secret_value(SecretId=secret_id, SecretString=value)

    if "ingest_stream" in manifest.lambdas:
        create_stream(clients, s, key_arn)

    glue = clients("glue")
    for database in manifest.glue_databases:
        with contextlib.suppress(glue.exceptions.AlreadyExistsException):
            glue.create_database(DatabaseInput={"Name": database, "Description": "MTX analytics (PII-free)"})
    create_glue_crawler_and_job(glue, s)

    s3.put_bucket_notification_configuration(
        Bucket=s.raw_bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    events = clients("events")
    events.put_rule(Name=incoming_rule_name(s), EventPattern=json.dumps(incoming_event_pattern(s)), State="ENABLED")
    for short, expression in SCHEDULED.items():
        if short in manifest.lambdas:
            rule = schedule_rule_name(s, short)
            events.put_rule(Name=rule, ScheduleExpression=expression, State="ENABLED")
            events.put_targets(Rule=rule, Targets=[{"Id": short, "Arn": s.function_arn(short)}])

    sfn_client = clients("stepfunctions")
    values = manifest.placeholders(queue_urls)
    existing = {m["name"]: m["stateMachineArn"] for m in sfn_client.list_state_machines()["stateMachines"]}
    arns: dict[str, str] = {}
    for machine in manifest.state_machines:
        name = s.state_machine_name(machine.workflow)
        definition = sfn.render_definition(sfn.STATE_MACHINES_DIR / f"{machine.workflow}.asl.json", values)
        role = f"arn:aws:iam::{s.account_id}:role/{name}"
        if name in existing:
            sfn_client.update_state_machine(stateMachineArn=existing[name], definition=definition, roleArn=role)
            arns[machine.workflow] = existing[name]
        else:
            arns[machine.workflow] = sfn_client.create_state_machine(
                name=name, definition=definition, roleArn=role, type=machine.type
            )["stateMachineArn"]
    standard = [arns[m.workflow] for m in manifest.state_machines if m.type == "STANDARD"]
    put_lambda_rules(manifest, events, standard)
    return add_local_runtime_parts(manifest, clients, queue_urls, arns)


def put_lambda_rules(manifest: Manifest, events: Any, standard_state_machine_arns: list[str]) -> None:
    """The EventBridge rules whose target is a Lambda function, as Terraform creates them (modules/triggers):
    the sweeper's schedule and the last-resort net's rule on failed executions. The local runtime runs
    them (orchestration/runtime/triggers.py: ScheduledRules, ExecutionStatusEvents)."""
    s = manifest.settings
    if "sweep_pending" in manifest.lambdas:
        events.put_rule(Name=sweep_pending_rule_name(s), ScheduleExpression=SWEEP_PENDING_SCHEDULE, State="ENABLED")
        events.put_targets(
            Rule=sweep_pending_rule_name(s), Targets=[{"Id": "sweep-pending", "Arn": s.function_arn("sweep_pending")}]
        )
    if "dead_letter_failed_execution" in manifest.lambdas and standard_state_machine_arns:
        events.put_rule(
            Name=failed_executions_rule_name(s),
            EventPattern=json.dumps(failed_executions_pattern(standard_state_machine_arns)),
            State="ENABLED",
        )
        events.put_targets(
            Rule=failed_executions_rule_name(s),
            Targets=[{"Id": "dead-letter-failed-execution", "Arn": s.function_arn("dead_letter_failed_execution")}],
        )


def data_key(clients: Any, settings: Settings) -> str:
    """The ARN of the stack's customer-managed KMS key (created once, found by its alias after)."""
    kms = clients("kms")
    alias = data_key_alias(settings)
    try:
        return str(kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"])
    except kms.exceptions.NotFoundException:
        key = kms.create_key(Description=f"{settings.name_prefix}: data at rest (local stack)")["KeyMetadata"]
        kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
        return str(key["Arn"])


def create_stream(clients: Any, settings: Settings, key_arn: str) -> None:
    """The stream (on-demand, encrypted with the customer-managed key) and its on-failure queue, as
    modules/stream creates them; idempotent."""
    kinesis = clients("kinesis")
    name = stream_name(settings)
    with contextlib.suppress(kinesis.exceptions.ResourceInUseException):
        kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    if summary.get("EncryptionType") != "KMS":
        kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=key_arn)
    _create_queue(clients("sqs"), stream_failures_queue_name(settings), key_arn)


def _create_queue(sqs: Any, name: str, key_arn: str) -> str:
    attributes = {
        "KmsMasterKeyId": key_arn,
        "KmsDataKeyReusePeriodSeconds": "300",
        "MessageRetentionPeriod": "1209600",
        "VisibilityTimeout": "60",
    }
    if name.endswith(".fifo"):  # the dead-letter queue (modules/messaging): a send retried is kept once
        attributes |= {
            "FifoQueue": "true",
            "ContentBasedDeduplication": "true",
            "DeduplicationScope": "messageGroup",
            "FifoThroughputLimit": "perMessageGroupId",
        }
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def _queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def add_local_runtime_parts(
    manifest: Manifest, clients: Any, queue_urls: dict[str, str], state_machine_arns: dict[str, str]
) -> Provisioned:
    """What only the local runtime needs, on a stack provisioned either way (this manifest or Terraform):

    - an inbox queue subscribed to the alert topic, where alerts can be read back (an email stand-in);
    - the batch trigger queue as a second target of the incoming-files rule (moto's EventBridge cannot
      start a state machine; in AWS the rule's Step Functions target does);
    - the API credential registry (orchestration/runtime/auth.py), the stand-in of API Gateway's API keys and
      IAM identities: producers' and analysts' keys, as hashes.
    """
    from orchestration.runtime.auth import CredentialRegistry, credentials_table_name

    s = manifest.settings
    key_arn = data_key(clients, s)
    CredentialRegistry(clients("dynamodb"), credentials_table_name(s)).ensure_table(key_arn)
    sqs, sns, events = clients("sqs"), clients("sns"), clients("events")
    queue_urls = dict(queue_urls)
    for queue in (alerts_inbox_name(s), trigger_queue_name(s)):
        queue_urls[queue] = _create_queue(sqs, queue, key_arn)
    inbox_arn = _queue_arn(sqs, queue_urls[alerts_inbox_name(s)])
    for topic in manifest.topics:
        arn = s.arn("sns", topic)
        subscribed = {sub["Endpoint"] for sub in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]}
        if inbox_arn not in subscribed:
            sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"})
    trigger_arn = _queue_arn(sqs, queue_urls[trigger_queue_name(s)])
    events.put_targets(Rule=incoming_rule_name(s), Targets=[{"Id": "local-batch-trigger", "Arn": trigger_arn}])
    return Provisioned(
        queue_urls=queue_urls,
        state_machine_arns=state_machine_arns,
        alerts_inbox_url=queue_urls[alerts_inbox_name(s)],
        trigger_queue_url=queue_urls[trigger_queue_name(s)],
    )


def register_lambdas(manifest: Manifest) -> None:
    """Dispatch each function name of the manifest to its Python handler (local runtime)."""
    import importlib

    for short, path in manifest.lambdas.items():
        module_name, func = path.rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), func)
        sfn.REGISTRY.register(manifest.settings.function_name(short), handler)
