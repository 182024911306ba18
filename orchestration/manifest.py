"""Every AWS resource the pipeline uses, in one manifest, named as Terraform names them.

``provision()`` creates them against an endpoint (the local moto server) with
the same key settings Terraform gives them in AWS: encryption, versioning,
public access blocked, point-in-time recovery, the alert topic's queue
subscription. Terraform's modules are checked against this file by tests.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from orchestration import sfn
from orchestration.settings import Settings

#: Lambda functions: short name -> handler path ("module.function"), as Terraform packages them.
LAMBDAS: dict[str, str] = {
    "validate_transaction": "lambdas.validate_transaction.handler.handler",
    "check_item": "lambdas.check_item.handler.handler",
    "store_compliance": "lambdas.store_compliance.handler.handler",
    "strip_pii": "lambdas.strip_pii.handler.handler",
    "store_analytics": "lambdas.store_analytics.handler.handler",
    "undo_partial_write": "lambdas.undo_partial_write.handler.handler",
    "split_file": "lambdas.split_file.handler.handler",
    "process_chunk": "lambdas.process_chunk.handler.handler",
    "ingest_stream": "lambdas.ingest_stream.handler.handler",
    "dead_letter_chunk": "lambdas.dead_letter_chunk.handler.handler",
    "finalize_run": "lambdas.finalize_run.handler.handler",
    "quarantine_file": "lambdas.quarantine_file.handler.handler",
    "run_crawler": "lambdas.run_crawler.handler.handler",
    "run_flatten_job": "lambdas.run_flatten_job.handler.handler",
    "build_marts": "lambdas.build_marts.handler.handler",
    "run_data_checks": "lambdas.run_data_checks.handler.handler",
    "analytics_api": "lambdas.analytics_api.handler.handler",
    "run_analytics_job": "lambdas.analytics_job.handler.handler",
    "migrate_databases": "lambdas.migrate_databases.handler.handler",
    "dead_letter_failed_execution": "lambdas.dead_letter_failed_execution.handler.handler",
    "sweep_pending": "lambdas.sweep_pending.handler.handler",
    "archive_dead_letters": "lambdas.archive_dead_letters.handler.handler",
}

#: Functions started on a schedule by an EventBridge rule named ``<name_prefix>-<short with dashes>``
#: (infra/terraform/modules/lambda creates the same rules): short name -> schedule expression.
SCHEDULED: dict[str, str] = {
    "archive_dead_letters": "rate(1 day)",
}

#: Workflow (ASL file stem) -> Step Functions type.
WORKFLOWS: dict[str, str] = {
    "transaction": "EXPRESS",
    "batch_ingest": "STANDARD",
    "analytics_refresh": "STANDARD",
    "analytics_job": "STANDARD",
}


@dataclass(frozen=True)
class Table:
    name: str
    hash_key: str
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class StateMachine:
    workflow: str  # file stem: orchestration/state_machines/<workflow>.asl.json
    type: str  # EXPRESS | STANDARD


@dataclass(frozen=True)
class Manifest:
    settings: Settings
    buckets: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    queues: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    state_machines: tuple[StateMachine, ...] = ()
    glue_databases: tuple[str, ...] = ()
    lambdas: dict[str, str] = field(default_factory=dict)

    def placeholders(self, queue_urls: dict[str, str]) -> dict[str, str]:
        """The values Terraform's templatefile() passes to every ASL file."""
        s = self.settings
        values = {f"{short}_function_arn": s.function_arn(short) for short in self.lambdas}
        values.update(
            {
                "execution_status_table": s.execution_status_table,
                "item_catalogue_table": s.item_catalogue_table,
                "analytics_table": s.analytics_table,
                "batch_runs_table": s.batch_runs_table,
                "analytics_jobs_table": s.analytics_jobs_table,
                "dead_letter_queue_url": queue_urls[s.dead_letter_queue_name],
                "alerts_topic_arn": s.alerts_topic_arn,
                "raw_bucket": s.raw_bucket,
                "analytics_bucket": s.analytics_bucket,
                "curated_bucket": s.curated_bucket,
                "query_results_bucket": s.query_results_bucket,
                "glue_database": s.glue_database,
            }
        )
        return values


def create_glue_crawler_and_job(glue: Any, s: Settings) -> None:
    """The crawler and the job Terraform's glue module creates (infra/terraform/modules/glue), idempotently.

    The Lambdas only start them through the Glue API; behind it the local runtime runs them
    (orchestration/runtime/glue.py).
    """
    from orchestration.runtime.glue import JOB_SUFFIX
    from orchestration.runtime.glue_crawler import load_definition

    definition = load_definition()
    raw = definition.raw
    target = {"Path": f"s3://{s.analytics_bucket}/{definition.table_prefix}",
              "Exclusions": list(definition.exclusions), "SampleSize": definition.sample_size}  # fmt: skip
    with contextlib.suppress(glue.exceptions.AlreadyExistsException):
        glue.create_crawler(
            Name=definition.crawler_name(s.name_prefix),
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
            Name=f"{s.name_prefix}-{JOB_SUFFIX}",
            Role=f"arn:aws:iam::{s.account_id}:role/{s.name_prefix}-glue-job",
            Command={"Name": "glueetl", "PythonVersion": "3",
                     "ScriptLocation": f"s3://{s.glue_scripts_bucket}/jobs/flatten_transactions/job.py"},
            GlueVersion="5.1", ExecutionProperty={"MaxConcurrentRuns": 1},
            DefaultArguments={"--database": s.glue_database, "--table": "transactions",
                              "--curated_bucket": s.curated_bucket,
                              "--warehouse_secret_id": s.warehouse_transformer_secret_id},
        )  # fmt: skip


def build(settings: Settings) -> Manifest:
    s = settings
    return Manifest(
        settings=s,
        buckets=(s.raw_bucket, s.analytics_bucket, s.curated_bucket, s.glue_scripts_bucket, s.query_results_bucket),
        tables=(
            Table(s.item_catalogue_table, "item_id"),
            Table(s.analytics_table, "transaction_id"),
            Table(s.execution_status_table, "transaction_id"),
            Table(s.batch_runs_table, "run_id"),
            Table(s.analytics_cache_table, "cache_key", ttl_attribute="expires_at"),
            Table(s.analytics_jobs_table, "job_id", ttl_attribute="expires_at"),
            Table(s.execution_dead_letters_table, "execution_arn"),
        ),
        queues=(s.dead_letter_queue_name,),
        topics=(s.alerts_topic_name,),
        secrets=(
            s.compliance_admin_secret_id,
            s.compliance_migrator_secret_id,
            s.compliance_writer_secret_id,
            s.compliance_reader_secret_id,
            s.warehouse_admin_secret_id,
            s.warehouse_transformer_secret_id,
            s.warehouse_reader_secret_id,
        ),
        state_machines=tuple(
            StateMachine(workflow, kind)
            for workflow, kind in WORKFLOWS.items()
            if (sfn.STATE_MACHINES_DIR / f"{workflow}.asl.json").exists()
        ),
        glue_databases=(s.glue_database,),
        lambdas=dict(LAMBDAS),
    )


#: Local queue subscribed to the alert topic so alerts can be read back (an email inbox stand-in).
def alerts_inbox_name(settings: Settings) -> str:
    return f"{settings.alerts_topic_name}-inbox"


def schedule_rule_name(settings: Settings, short: str) -> str:
    """The EventBridge rule that starts a scheduled function, as Terraform names it (the function's name)."""
    return settings.function_name(short)


def incoming_rule_name(settings: Settings) -> str:
    return f"{settings.name_prefix}-raw-incoming"


def incoming_event_pattern(settings: Settings) -> dict[str, Any]:
    """The EventBridge pattern for files dropped under incoming/ of the raw bucket (Terraform uses the same)."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [settings.raw_bucket]}, "object": {"key": [{"prefix": "incoming/"}]}},
    }


#: How often the PENDING sweeper runs (the EventBridge rule's ScheduleExpression; Terraform's default).
SWEEP_PENDING_SCHEDULE = "rate(5 minutes)"


def sweep_pending_rule_name(settings: Settings) -> str:
    return f"{settings.name_prefix}-sweep-pending"


def failed_executions_rule_name(settings: Settings) -> str:
    return f"{settings.name_prefix}-failed-executions"


def failed_executions_pattern(state_machine_arns: list[str]) -> dict[str, Any]:
    """The last-resort net's EventBridge pattern (Terraform uses the same): the Standard workflows'
    executions that ended FAILED, TIMED_OUT or ABORTED (Express workflows emit no status events)."""
    return {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"], "stateMachineArn": sorted(state_machine_arns)},
    }


def stream_name(settings: Settings) -> str:
    """The Kinesis stream of the streaming entrance (infra/terraform/modules/stream names it so)."""
    return f"{settings.name_prefix}-transaction-stream"


def stream_failures_queue_name(settings: Settings) -> str:
    """The event source mapping's on-failure destination: where the batches given up on are described."""
    return f"{settings.name_prefix}-transaction-stream-failures"


#: The stream's retention (hours), as Terraform's default: what a batch has to be retried within.
STREAM_RETENTION_HOURS = 24


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


#: Local only: moto's EventBridge cannot target Step Functions, so the rule targets this queue and
#: the local runtime starts the batch workflow from it (in AWS the rule targets the state machine).
def trigger_queue_name(settings: Settings) -> str:
    return f"{settings.name_prefix}-batch-trigger"


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
            ddb.create_table(
                TableName=table.name,
                KeySchema=[{"AttributeName": table.hash_key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": table.hash_key, "AttributeType": "S"}],
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
    them (orchestration/triggers.py: ScheduledRules, ExecutionStatusEvents)."""
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


def data_key_alias(settings: Settings) -> str:
    """The customer-managed key's alias, as infra/terraform/modules/kms names it."""
    return f"alias/{settings.name_prefix}-data"


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
    - the API credential registry (orchestration/auth.py), the stand-in of API Gateway's API keys and
      IAM identities: producers' and analysts' keys, as hashes.
    """
    from orchestration.auth import CredentialRegistry, credentials_table_name

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


def key_settings(manifest: Manifest, clients: Any) -> dict[str, Any]:
    """The key settings of every resource of the manifest, read back from a running stack.

    The same reading of a stack provisioned by ``provision()`` and of one provisioned by
    `terraform apply` of infra/terraform/envs/local must be equal (tests/e2e/test_terraform_local_stack.py).
    Encryption is compared by kind: both use the stack's customer-managed KMS key (the key ids differ).
    A resource that does not exist reads as ``"missing"``.
    """
    s = manifest.settings
    out: dict[str, Any] = {}
    s3 = clients("s3")
    for bucket in manifest.buckets:
        try:
            versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        except s3.exceptions.ClientError:
            out[f"bucket {bucket}"] = "missing"
            continue
        try:
            rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        except s3.exceptions.ClientError:
            rules = []
        try:
            block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        except s3.exceptions.ClientError:
            block = {}
        out[f"bucket {bucket}"] = {
            "versioning": versioning,
            "encryption": sorted({r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules}),
            "customer_key": all(r.get("ApplyServerSideEncryptionByDefault", {}).get("KMSMasterKeyID") for r in rules),
            "public_access_blocked": all(block.values()) and len(block) == 4,
        }
    ddb = clients("dynamodb")
    for table in manifest.tables:
        try:
            desc = ddb.describe_table(TableName=table.name)["Table"]
        except ddb.exceptions.ResourceNotFoundException:
            out[f"table {table.name}"] = "missing"
            continue
        sse = desc.get("SSEDescription", {})
        pitr = ddb.describe_continuous_backups(TableName=table.name)["ContinuousBackupsDescription"]
        ttl = ddb.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"]
        out[f"table {table.name}"] = {
            "hash_key": [k["AttributeName"] for k in desc["KeySchema"] if k["KeyType"] == "HASH"],
            "billing": desc.get("BillingModeSummary", {}).get("BillingMode"),
            "encryption": sse.get("SSEType") if sse.get("Status") == "ENABLED" else None,
            "pitr": pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"],
            "ttl": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None,
        }
    sqs = clients("sqs")
    for queue in manifest.queues:
        try:
            url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            out[f"queue {queue}"] = "missing"
            continue
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        out[f"queue {queue}"] = {
            "encryption": "aws:kms"
            if attrs.get("KmsMasterKeyId")
            else ("sqs" if attrs.get("SqsManagedSseEnabled") == "true" else None),
            "retention": attrs.get("MessageRetentionPeriod"),
            "visibility_timeout": attrs.get("VisibilityTimeout"),
            "redrive_policy": attrs.get("RedrivePolicy"),
            "fifo": attrs.get("FifoQueue", "false"),
        }
    sns = clients("sns")
    topics = {t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]}
    for topic in manifest.topics:
        topic_arn = s.arn("sns", topic)
        if topic_arn not in topics:
            out[f"topic {topic}"] = "missing"
            continue
        attrs = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
        out[f"topic {topic}"] = {"encryption": "aws:kms" if attrs.get("KmsMasterKeyId") else None}
    sm = clients("secretsmanager")
    for secret_id in manifest.secrets:
        try:
            value = json.loads(sm.get_secret_value(SecretId=secret_id)["SecretString"])
        except sm.exceptions.ResourceNotFoundException:
            out[f"secret {secret_id}"] = "missing"
            continue
        customer_key = bool(sm.describe_secret(SecretId=secret_id).get("KmsKeyId"))
        out[f"secret {secret_id}"] = {
            "keys": sorted(value), "dbname": value.get("dbname"), "customer_key": customer_key,
        }  # fmt: skip
    glue = clients("glue")
    for database in manifest.glue_databases:
        try:
            glue.get_database(Name=database)
            out[f"glue database {database}"] = "exists"
        except glue.exceptions.EntityNotFoundException:
            out[f"glue database {database}"] = "missing"
    sfn_client = clients("stepfunctions")
    machines = {m["name"]: m["stateMachineArn"] for m in sfn_client.list_state_machines()["stateMachines"]}
    for machine in manifest.state_machines:
        name = s.state_machine_name(machine.workflow)
        arn = machines.get(name)
        out[f"state machine {name}"] = (
            sfn_client.describe_state_machine(stateMachineArn=arn)["type"] if arn else "missing"
        )
    rule = [r for r in clients("events").list_rules(NamePrefix=incoming_rule_name(s))["Rules"]
            if r["Name"] == incoming_rule_name(s)]  # fmt: skip
    out[f"rule {incoming_rule_name(s)}"] = (
        json.loads(rule[0]["EventPattern"]) == incoming_event_pattern(s) if rule else "missing"
    )
    for short in SCHEDULED:
        if short not in manifest.lambdas:
            continue
        name = schedule_rule_name(s, short)
        found = [r for r in clients("events").list_rules(NamePrefix=name)["Rules"] if r["Name"] == name]
        out[f"rule {name}"] = found[0].get("ScheduleExpression") if found else "missing"
    return out
