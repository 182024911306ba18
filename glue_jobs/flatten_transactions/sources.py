"""Where a run's input comes from and its output goes: the Glue catalog's partitions, S3 objects,
which partitions are pending (bookmarks), the schema-drift sample, local copies for Spark."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glue_jobs import glue_types
from glue_jobs.flatten_transactions.schema import SchemaDrift, detect_drift
from glue_jobs.s3_sample import excluded, read_sample

logger = logging.getLogger("flatten_transactions")

CURATED_PREFIX = "transactions/"
REJECTS_PREFIX = "rejects/transactions/"
#: Objects modified this long before a bookmark still count as new: S3's LastModified is the
#: start of an upload and has coarse precision, and clocks differ a little. Reprocessing is harmless.
BOOKMARK_MARGIN = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Partition:
    value: str
    location: str  # s3://bucket/prefix/dt=value/


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    size: int
    last_modified: dt.datetime

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    match = re.match(r"^s3a?://([^/]+)/?(.*)$", uri)
    if not match:
        raise ValueError(f"not an s3:// location: {uri!r}")
    return match[1], match[2]


def catalog_partitions(glue: Any, database: str, table: str) -> tuple[str, list[Partition]]:
    """The table's location and its partitions (``dt`` values with their folders), from the catalog."""
    location = glue.get_table(DatabaseName=database, Name=table)["Table"]["StorageDescriptor"]["Location"]
    partitions: list[Partition] = []
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
        for p in page["Partitions"]:
            value = p["Values"][0]
            folder = p.get("StorageDescriptor", {}).get("Location") or f"{location.rstrip('/')}/dt={value}/"
            partitions.append(Partition(value, folder if folder.endswith("/") else folder + "/"))
    return location, sorted(partitions, key=lambda p: p.value)


def list_objects(s3: Any, location: str) -> list[S3Object]:
    bucket, prefix = split_s3_uri(location)
    out: list[S3Object] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            if not excluded(o["Key"]):
                out.append(S3Object(bucket, o["Key"], int(o["Size"]), o["LastModified"]))
    return out


def utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def in_date_range(
    partitions: Iterable[Partition], from_date: dt.date | None = None, to_date: dt.date | None = None
) -> list[Partition]:
    """Partitions whose ``dt`` is a date within [from_date, to_date] (open ends allowed)."""
    chosen: list[Partition] = []
    for p in partitions:
        day = _day(p.value)
        if day is None:
            logger.warning("partition dt=%s is not a date: skipped", p.value)
        elif not ((from_date and day < from_date) or (to_date and day > to_date)):
            chosen.append(p)
    return chosen


def pending_partitions(
    partitions: Iterable[Partition],
    objects: Mapping[str, Sequence[S3Object]],
    bookmarks: Mapping[str, dt.datetime],
    *,
    backfill: bool = False,
    margin: dt.timedelta = BOOKMARK_MARGIN,
) -> list[Partition]:
    """Partitions holding objects and not bookmarked since their last change (all of them on backfill)."""
    chosen: list[Partition] = []
    for p in partitions:
        found = objects.get(p.value, ())
        if not found:
            continue
        done = bookmarks.get(p.value)
        if backfill or done is None or any(utc(o.last_modified) > utc(done) - margin for o in found):
            chosen.append(p)
    return chosen


def sample_drift(s3: Any, objects: Mapping[str, Sequence[S3Object]], per_partition: int = 3) -> SchemaDrift:
    """Fields the data carries beyond the contract, from a few objects per partition (crawler inference)."""
    records: list[dict[str, Any]] = []
    for found in objects.values():
        for o in found[:per_partition]:
            got, _ = read_sample(s3, o.bucket, [o.key], max_bytes=256 * 1024, max_records=200)
            records.extend(got)
    return detect_drift(glue_types.infer_columns(records)) if records else SchemaDrift()


_SAFE_NAME = re.compile(r"^[A-Za-z0-9._=-]+$")


def download(
    s3: Any, objects: Mapping[str, Sequence[S3Object]], root: Path, table_prefix: str
) -> tuple[list[str], dict[str, str]]:
    """Objects -> ``root/<table_prefix>/dt=<value>/``; (partition folders, ``file://`` path -> s3 URI).

    Local names are made Hadoop-safe: a ``:`` (allowed in transaction ids) breaks Hadoop's Path.
    """
    folders: list[str] = []
    names: dict[str, str] = {}
    for value, found in objects.items():
        folder = root / table_prefix / f"dt={value}"
        folder.mkdir(parents=True, exist_ok=True)
        folders.append(str(folder))
        for index, o in enumerate(found):
            name = o.key.rsplit("/", 1)[-1]
            if not _SAFE_NAME.match(name):
                name = f"{index:07d}-" + re.sub(r"[^A-Za-z0-9._=-]", "_", name)
            target = folder / name
            s3.download_file(o.bucket, o.key, str(target))
            names[f"file://{target}"] = o.uri  # as Spark's input_file_name() spells it, unquoted
    return folders, names


def upload_partitions(s3: Any, local_root: Path, bucket: str, prefix: str, replace: bool = True) -> list[str]:
    """Upload ``local_root/dt=*/<files>`` to ``s3://bucket/prefix/dt=*/``, first removing what was there."""
    keys: list[str] = []
    for folder in sorted(p for p in local_root.glob("dt=*") if p.is_dir()):
        target = f"{prefix}{folder.name}/"
        if replace:
            old = [o.key for o in list_objects(s3, f"s3://{bucket}/{target}")]
            for start in range(0, len(old), 1000):
                chunk = [{"Key": k} for k in old[start : start + 1000]]
                s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
        for file in sorted(folder.iterdir()):
            if file.is_file() and not excluded(file.name):
                s3.upload_file(str(file), bucket, target + file.name)
                keys.append(target + file.name)
    return keys


def clear_prefix(s3: Any, bucket: str, prefix: str) -> None:
    old = [o.key for o in list_objects(s3, f"s3://{bucket}/{prefix}")]
    for start in range(0, len(old), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in old[start : start + 1000]]})
