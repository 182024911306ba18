"""Reading a sample of JSON/NDJSON objects from S3: shared by the Glue job (schema drift) and the
local crawler of the local runtime (``orchestration/runtime/glue_crawler.py``)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError


def excluded(key: str) -> bool:
    """Hidden and marker files (``_SUCCESS``, ``.crc``): skipped by Glue, Spark and this crawler."""
    name = key.rsplit("/", 1)[-1]
    return not name or name.startswith(("_", "."))


def read_sample(
    s3: Any, bucket: str, keys: list[str], *, max_bytes: int = 1 << 20, max_records: int = 1000
) -> tuple[list[dict[str, Any]], int]:
    """(JSON objects, unparseable lines) from the first ``max_bytes`` of each object (JSON or NDJSON)."""
    records: list[dict[str, Any]] = []
    bad = 0
    for key in keys:
        try:
            data = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":  # an empty object
                continue
            raise
        lines = data.splitlines()
        if len(data) >= max_bytes and lines:
            lines = lines[:-1]  # cut mid-line by the range read
        for line in lines[:max_records]:
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(value, dict):
                records.append(value)
            else:
                bad += 1
    return records, bad
