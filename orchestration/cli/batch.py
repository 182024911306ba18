"""The file entrance from a user's side: drop a file under incoming/, follow its run."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from orchestration.runtime.ingest import Clients
from orchestration.settings import Settings

SINGLE_PUT_LIMIT = 5 * 2**30  # S3's limit for one PUT


def upload(clients: Clients, settings: Settings, path: Path, name: str | None = None) -> str:
    """One PUT (streamed from the file) up to 5 GiB, multipart above: one "Object Created" event either way.

    No encryption argument: the bucket's default (the stack's customer-managed KMS key) applies, and its
    policy refuses a request that asks for any other encryption."""
    key = f"incoming/{name or path.name}"
    s3 = clients("s3")
    if path.stat().st_size < SINGLE_PUT_LIMIT:
        with path.open("rb") as body:
            s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=body)
    else:
        s3.upload_file(str(path), settings.raw_bucket, key)
    return key


def upload_bytes(clients: Clients, settings: Settings, body: bytes, name: str | None = None) -> str:
    key = f"incoming/{name or uuid.uuid4().hex + '.ndjson'}"
    clients("s3").put_object(Bucket=settings.raw_bucket, Key=key, Body=body)
    return key


def runs(clients: Clients, settings: Settings) -> list[dict[str, Any]]:
    out = []
    for page in clients("dynamodb").get_paginator("scan").paginate(TableName=settings.batch_runs_table):
        for item in page["Items"]:
            out.append({k: (v.get("S") if "S" in v else int(v["N"]) if "N" in v else v) for k, v in item.items()})
    return sorted(out, key=lambda r: str(r.get("started_at", "")))


def run_ids(clients: Clients, settings: Settings, key: str) -> set[str]:
    return {str(r["run_id"]) for r in runs(clients, settings) if r.get("object_key") == key}


def wait_for_run(
    clients: Clients, settings: Settings, key: str, timeout: float = 1800.0, known: set[str] | None = None
) -> dict[str, Any]:
    """The finished run of an object key that is not in ``known`` (COMPLETED or FAILED; never left PENDING)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mine = [r for r in runs(clients, settings) if r.get("object_key") == key and r["run_id"] not in (known or ())]
        if mine and mine[-1].get("status") in ("COMPLETED", "FAILED"):
            return mine[-1]
        time.sleep(0.25)
    raise TimeoutError(f"no finished run for {key} after {timeout} s")
