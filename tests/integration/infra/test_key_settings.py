"""manifest.key_settings(): the reading the Terraform parity test compares, checked to see a difference."""

from __future__ import annotations

import pytest

from orchestration.runtime import manifest
from orchestration.runtime.stack import LocalStack
from orchestration.settings import Settings

pytestmark = pytest.mark.integration


def test_the_session_stack_reads_as_the_manifest_defines_it(stack: LocalStack) -> None:
    got = manifest.key_settings(manifest.build(stack.require_settings()), stack.client)
    s = stack.require_settings()
    assert "missing" not in got.values()
    kms = {"encryption": ["aws:kms"], "customer_key": True}
    assert got[f"bucket {s.raw_bucket}"] == {"versioning": "Enabled", **kms, "public_access_blocked": True}
    assert got[f"table {s.analytics_cache_table}"]["encryption"] == "KMS"
    assert got[f"topic {s.alerts_topic_name}"] == {"encryption": "aws:kms"}
    assert got[f"table {s.analytics_cache_table}"]["ttl"] == "expires_at"
    assert got[f"table {s.batch_runs_table}"]["pitr"] == "ENABLED"
    assert got[f"table {s.realtime_aggregates_table}"]["range_key"] == ["sk"]
    assert got[f"table {s.realtime_aggregates_table}"]["ttl"] == "expires_at"
    assert got[f"queue {s.dead_letter_queue_name}"]["encryption"] == "aws:kms"
    assert got[f"state machine {s.state_machine_name('transaction')}"] == "EXPRESS"
    assert got[f"secret {s.compliance_writer_secret_id}"]["dbname"] == "compliance"
    assert got[f"secret {s.compliance_writer_secret_id}"]["customer_key"] is True


def test_a_weakened_or_missing_resource_reads_differently(stack: LocalStack) -> None:
    """A second stack under another prefix on the same moto server, then weakened: the reading must tell."""
    s = Settings(name_prefix="mtx-probe")
    man = manifest.build(s)
    secrets = {sid: {"host": "127.0.0.1", "dbname": sid} for sid in man.secrets}
    manifest.provision(man, stack.client, secrets)
    before = manifest.key_settings(man, stack.client)
    assert "missing" not in before.values()
    stack.client("s3").put_bucket_versioning(Bucket=s.curated_bucket, VersioningConfiguration={"Status": "Suspended"})
    stack.client("s3").put_bucket_encryption(  # S3-managed keys instead of the customer-managed key: weaker
        Bucket=s.raw_bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    stack.client("dynamodb").update_continuous_backups(
        TableName=s.batch_runs_table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    stack.client("secretsmanager").delete_secret(
        SecretId=s.warehouse_transformer_secret_id, ForceDeleteWithoutRecovery=True
    )
    after = manifest.key_settings(man, stack.client)
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {
        f"bucket {s.curated_bucket}",
        f"bucket {s.raw_bucket}",
        f"table {s.batch_runs_table}",
        f"secret {s.warehouse_transformer_secret_id}",
    }
    assert after[f"secret {s.warehouse_transformer_secret_id}"] == "missing"
