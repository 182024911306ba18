"""The key settings of every resource of the manifest, read back from a running stack.

Both ways of provisioning the local stack (``orchestration/runtime/manifest.py`` ``provision()`` and
`terraform apply` of infra/terraform/envs/local) must read back equal
(tests/e2e/test_terraform_local_stack.py).
"""

from __future__ import annotations

import json
from typing import Any

from orchestration.runtime.resources import (
    SCHEDULED,
    Manifest,
    incoming_event_pattern,
    incoming_rule_name,
    schedule_rule_name,
)


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
            "range_key": [k["AttributeName"] for k in desc["KeySchema"] if k["KeyType"] == "RANGE"],
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
