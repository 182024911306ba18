"""Encryption at rest is what Terraform configures: the customer-managed KMS key, never an override.

A ``ServerSideEncryption="AES256"`` argument on a put or copy replaces the bucket's KMS default with
S3-managed keys (readable by anyone with s3:GetObject, no key policy, no CloudTrail record of the key's
use). The code sends no encryption argument at all: the bucket's default applies, in AWS and locally.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED_AND_RUNTIME = ("lambdas", "glue_jobs", "expectations", "orchestration", "contracts", "infra", "benchmarks")
WEAKER = re.compile(
    r"AES256|ServerSideEncryption\s*=|[\"']ServerSideEncryption[\"']\s*:|sqs_managed_sse_enabled\s*=\s*true"
)


def _sources() -> list[Path]:
    out = []
    for top in DEPLOYED_AND_RUNTIME:
        for path in (ROOT / top).rglob("*"):
            if path.suffix in {".py", ".tf", ".json", ".hcl"} and ".terraform" not in path.parts:
                out.append(path)
    return out


def test_the_scan_sees_the_code() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in _sources()}
    assert "lambdas/store_analytics/handler.py" in names and "orchestration/runtime/manifest.py" in names
    assert any(n.startswith("infra/terraform/modules/storage/") for n in names)
    assert WEAKER.search('s3.put_object(Bucket=b, Key=k, ServerSideEncryption="AES256")')


def test_no_code_overrides_the_customer_managed_key() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in _sources()
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if WEAKER.search(line)
    ]
    assert not found, "encryption weaker than the bucket's KMS default:\n" + "\n".join(found)
