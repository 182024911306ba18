"""`mtx up --terraform` gives a failed apply one second chance on an EMPTY emulator (orchestration/runtime/
terraform.py): a fresh-clone CI run once failed because, under load, the AWS provider retried an
AuthorizeSecurityGroupEgress that moto had already done and got InvalidPermission.Duplicate, which no later
apply of the same state gets past. Proved here with a real moto server in its own process (a reset in this
process would empty the session's stack too) and a stand-in terraform whose first apply fails: what the first
apply left is gone before the second, the first failure is kept, and a second failure is not hidden."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from orchestration.runtime import terraform
from orchestration.runtime.moto_server import FAKE_CREDENTIALS
from orchestration.runtime.ports import free_port
from orchestration.runtime.terraform import Database, TerraformApply, TerraformError

pytestmark = pytest.mark.integration

# terraform -chdir=DIR <command> ...: the first apply fails (after creating nothing it can see), later ones pass
STAND_IN = """#!/bin/sh
case "$2" in
  apply) if [ -e "$MARKER" ] && [ -z "$ALWAYS_FAIL" ]; then exit 0; fi
         touch "$MARKER"; echo "Error: InvalidPermission.Duplicate: The specified rule already exists"; exit 1 ;;
  output) echo '{"name_prefix": {"value": "mtx-local"}}' ;;
esac
"""


@pytest.fixture
def emulator() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "moto server did not start"
            time.sleep(0.2)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _apply(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch, *, always_fail: bool
) -> tuple[TerraformApply, Any]:
    binary = tmp_path / "terraform"
    binary.write_text(STAND_IN)
    binary.chmod(0o700)
    monkeypatch.setattr(terraform, "terraform_binary", lambda: str(binary))
    monkeypatch.setattr(terraform, "provider_mirror", lambda: None)
    monkeypatch.setattr(TerraformApply, "package", lambda self: None)
    monkeypatch.setenv("MARKER", str(tmp_path / "applied-once"))
    if always_fail:
        monkeypatch.setenv("ALWAYS_FAIL", "1")
    key, secret = FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"], FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    s3 = boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret
    )
    s3.create_bucket(Bucket="left-by-the-first-apply")
    apply = TerraformApply(home=tmp_path / "home", endpoint_url=url, database=Database("127.0.0.1", 5432, "u", "p"))
    return apply, s3


def test_a_failed_apply_runs_once_more_on_an_empty_emulator(
    tmp_path: Path, emulator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply, s3 = _apply(tmp_path, emulator, monkeypatch, always_fail=False)

    assert apply.run() == {"name_prefix": "mtx-local"}

    assert apply.first_failure is not None and "InvalidPermission.Duplicate" in apply.first_failure
    assert (apply.work_dir / "apply-first.log").exists() and (apply.work_dir / "apply.log").exists()
    assert s3.list_buckets()["Buckets"] == []


def test_a_second_failure_is_not_hidden(tmp_path: Path, emulator: str, monkeypatch: pytest.MonkeyPatch) -> None:
    apply, _s3 = _apply(tmp_path, emulator, monkeypatch, always_fail=True)

    with pytest.raises(TerraformError, match=r"InvalidPermission\.Duplicate"):
        apply.run()
    assert apply.first_failure is not None


def test_without_a_second_chance_the_first_failure_stands(
    tmp_path: Path, emulator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply, s3 = _apply(tmp_path, emulator, monkeypatch, always_fail=False)

    with pytest.raises(TerraformError):
        apply.run(second_chance=False)
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["left-by-the-first-apply"]
    assert os.path.exists(tmp_path / "applied-once")
