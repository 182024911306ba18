"""A local Glue crawler: what the AWS crawler of ``glue_jobs/crawlers/<name>.json`` does, against any Data Catalog.

Local runtime only (moved out of ``glue_jobs/``, issue 22): the deployed Lambda only calls
StartCrawler/GetCrawler; ``orchestration/runtime/glue.py`` runs this module behind moto's StartCrawler.

moto's Glue keeps crawler *state* only (a crawler run creates no table), so locally
this module plays the crawler: it lists the ``dt=`` folders under the target path,
samples the JSON objects of folders the catalog does not know yet
(``CRAWL_NEW_FOLDERS_ONLY``), infers Glue types from them, creates the table
(openx JSON SerDe, partition key ``dt``) and registers the new partitions with
``batch_create_partition``. Schema changes follow the definition's
``schema_change_policy``: ``UPDATE_IN_DATABASE`` merges new columns into the
table, ``LOG`` only reports them; partitions whose folder disappeared are only
reported (``delete_behavior`` ``LOG``). A second crawl with nothing new changes
nothing and says so.

The definition file is the one Terraform reads (``jsondecode(file(...))``), so
the local and the AWS crawler cannot drift apart.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import glue_jobs
from contracts.pii import PII_FIELDS
from glue_jobs import glue_types
from glue_jobs.glue_types import GlueType
from glue_jobs.s3_sample import excluded, read_sample

logger = logging.getLogger(__name__)

__all__ = ["CrawlReport", "CrawlerDefinition", "crawl", "excluded", "load_definition", "read_sample"]

CRAWLERS_DIR = Path(glue_jobs.__file__).with_name("crawlers")
TRANSACTIONS_DEFINITION = CRAWLERS_DIR / "transactions.json"

UPDATE_BEHAVIORS = ("UPDATE_IN_DATABASE", "LOG")
DELETE_BEHAVIORS = ("LOG", "DELETE_FROM_DATABASE", "DEPRECATE_IN_DATABASE")
RECRAWL_BEHAVIORS = ("CRAWL_EVERYTHING", "CRAWL_NEW_FOLDERS_ONLY", "CRAWL_EVENT_MODE")
_BATCH_CREATE_LIMIT = 100  # batch_create_partition accepts at most 100 partitions per call


class InvalidCrawlerDefinition(ValueError):
    """The crawler definition would be refused by AWS Glue (or is incomplete)."""


@dataclass(frozen=True)
class CrawlerDefinition:
    name_suffix: str
    table_name: str
    s3_path: str
    partition_key: str
    update_behavior: str
    delete_behavior: str
    recrawl_behavior: str
    sample_size: int
    exclusions: tuple[str, ...]
    classification: str
    input_format: str
    output_format: str
    serde: str
    max_bytes_per_object: int = 1 << 20
    max_records_per_object: int = 1000
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def crawler_name(self, name_prefix: str) -> str:
        return f"{name_prefix}-{self.name_suffix}"

    @property
    def table_prefix(self) -> str:
        return self.s3_path if self.s3_path.endswith("/") else self.s3_path + "/"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CrawlerDefinition:
        try:
            target = data["s3_target"]
            table = data["table"]
            keys = data["partition_keys"]
            local = data.get("local", {})
            definition = cls(
                name_suffix=data["name_suffix"],
                table_name=data["table_name"],
                s3_path=target["path"],
                partition_key=keys[0]["name"],
                update_behavior=data["schema_change_policy"]["update_behavior"],
                delete_behavior=data["schema_change_policy"]["delete_behavior"],
                recrawl_behavior=data["recrawl_policy"]["recrawl_behavior"],
                sample_size=int(target.get("sample_size", 10)),
                exclusions=tuple(target.get("exclusions", ())),
                classification=table["classification"],
                input_format=table["input_format"],
                output_format=table["output_format"],
                serde=table["serde"],
                max_bytes_per_object=int(local.get("max_bytes_per_object", 1 << 20)),
                max_records_per_object=int(local.get("max_records_per_object", 1000)),
                raw=data,
            )
        except (KeyError, IndexError, TypeError) as exc:
            raise InvalidCrawlerDefinition(f"crawler definition is missing {exc}") from None
        definition.validate()
        return definition

    def validate(self) -> None:
        """The rules AWS Glue enforces on CreateCrawler/UpdateCrawler, checked before anything runs."""
        if self.update_behavior not in UPDATE_BEHAVIORS:
            raise InvalidCrawlerDefinition(f"update_behavior {self.update_behavior!r} not in {UPDATE_BEHAVIORS}")
        if self.delete_behavior not in DELETE_BEHAVIORS:
            raise InvalidCrawlerDefinition(f"delete_behavior {self.delete_behavior!r} not in {DELETE_BEHAVIORS}")
        if self.recrawl_behavior not in RECRAWL_BEHAVIORS:
            raise InvalidCrawlerDefinition(f"recrawl_behavior {self.recrawl_behavior!r} not in {RECRAWL_BEHAVIORS}")
        # Glue: 'The SchemaChangePolicy for "Crawl new folders only" Amazon S3 target can have
        # only LOG DeleteBehavior value and LOG UpdateBehavior value.' (InvalidInputException)
        policy = (self.update_behavior, self.delete_behavior)
        if self.recrawl_behavior == "CRAWL_NEW_FOLDERS_ONLY" and policy != ("LOG", "LOG"):
            raise InvalidCrawlerDefinition(
                "RecrawlPolicy CRAWL_NEW_FOLDERS_ONLY requires SchemaChangePolicy UpdateBehavior=LOG and "
                f"DeleteBehavior=LOG (AWS Glue refuses {self.update_behavior}/{self.delete_behavior})"
            )
        if not 1 <= self.sample_size <= 249:
            raise InvalidCrawlerDefinition(f"sample_size must be 1..249 (Glue's limit), got {self.sample_size}")
        if self.partition_key != "dt":
            raise InvalidCrawlerDefinition(f"partition key must be dt, got {self.partition_key!r}")


def load_definition(path: Path = TRANSACTIONS_DEFINITION) -> CrawlerDefinition:
    return CrawlerDefinition.from_dict(json.loads(path.read_text()))


@dataclass
class CrawlReport:
    crawler_name: str
    database: str
    table: str
    table_created: bool = False
    #: Columns written into the table (at creation, or merged under UPDATE_IN_DATABASE).
    columns_added: list[str] = field(default_factory=list)
    #: Columns seen in new folders that the table lacks; applied only under UPDATE_IN_DATABASE.
    new_columns: list[str] = field(default_factory=list)
    type_changes: list[str] = field(default_factory=list)
    schema_change_applied: bool = False
    partitions_added: list[str] = field(default_factory=list)
    #: Catalogued partitions whose folder is gone (DeleteBehavior LOG: reported, not deleted).
    partitions_missing: list[str] = field(default_factory=list)
    objects_sampled: int = 0
    records_sampled: int = 0
    records_unparseable: int = 0
    skipped: list[str] = field(default_factory=list)
    #: PII paths (contracts.PII_FIELDS) found in the sampled objects: must stay empty.
    pii_fields_found: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.table_created or self.schema_change_applied or self.partitions_added)

    def summary(self) -> str:
        if not self.changed and not self.new_columns:
            return f"{self.crawler_name}: {self.database}.{self.table} unchanged"
        parts = []
        if self.table_created:
            parts.append(f"table created with {len(self.columns_added)} columns")
        elif self.columns_added:
            parts.append(f"columns added {self.columns_added}")
        if self.new_columns and not self.schema_change_applied:
            parts.append(f"new columns logged, not applied {self.new_columns}")
        if self.type_changes:
            parts.append(f"type changes {self.type_changes}")
        if self.partitions_added:
            parts.append(f"{len(self.partitions_added)} partitions added")
        return f"{self.crawler_name}: {self.database}.{self.table}: " + "; ".join(parts)


_PARTITION_FOLDER = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>[^/]+)/$")


def _list_folders(s3: Any, bucket: str, prefix: str) -> tuple[dict[str, str], list[str]]:
    """dt value -> folder prefix, and everything under the prefix that is not a dt= folder."""
    folders: dict[str, str] = {}
    skipped: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            folder = common["Prefix"]
            match = _PARTITION_FOLDER.match(folder[len(prefix) :])
            if match and match["key"] == "dt":
                folders[match["value"]] = folder
            else:
                skipped.append(folder)
        skipped.extend(obj["Key"] for obj in page.get("Contents", []))
    return folders, skipped


def sample_records(
    s3: Any, bucket: str, folder: str, definition: CrawlerDefinition
) -> tuple[list[dict[str, Any]], int, int]:
    """(records, objects read, unparseable lines) from the first ``sample_size`` objects of a folder."""
    page = s3.list_objects_v2(Bucket=bucket, Prefix=folder, MaxKeys=definition.sample_size + 10)
    keys = [o["Key"] for o in page.get("Contents", []) if not excluded(o["Key"])][: definition.sample_size]
    records, bad = read_sample(
        s3,
        bucket,
        keys,
        max_bytes=definition.max_bytes_per_object,
        max_records=definition.max_records_per_object,
    )
    return records, len(keys), bad


def _pii_paths(columns: Mapping[str, GlueType]) -> list[str]:
    seen = glue_types.leaf_paths(columns)
    return sorted(".".join(path) for path in PII_FIELDS if ".".join(path).lower() in seen)


def _storage_descriptor(
    columns: Mapping[str, GlueType], location: str, definition: CrawlerDefinition, paths: list[str]
) -> dict[str, Any]:
    return {
        "Columns": [{"Name": name, "Type": glue_types.render(t)} for name, t in columns.items()],
        "Location": location,
        "InputFormat": definition.input_format,
        "OutputFormat": definition.output_format,
        "Compressed": False,
        "NumberOfBuckets": -1,
        "SerdeInfo": {"SerializationLibrary": definition.serde, "Parameters": {"paths": ",".join(paths)}},
        "StoredAsSubDirectories": False,
    }


def _table_input(
    definition: CrawlerDefinition,
    crawler_name: str,
    columns: Mapping[str, GlueType],
    location: str,
    paths: list[str],
) -> dict[str, Any]:
    return {
        "Name": definition.table_name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": definition.classification,
            "compressionType": "none",
            "typeOfData": "file",
            "UPDATED_BY_CRAWLER": crawler_name,
        },
        "PartitionKeys": [{"Name": definition.partition_key, "Type": "string"}],
        "StorageDescriptor": _storage_descriptor(columns, location, definition, paths),
    }


def _catalog_columns(table: Mapping[str, Any]) -> dict[str, GlueType]:
    return {c["Name"]: glue_types.parse(c["Type"]) for c in table["StorageDescriptor"].get("Columns", [])}


def _catalog_partitions(glue: Any, database: str, table: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
        for partition in page["Partitions"]:
            out[partition["Values"][0]] = partition
    return out


def _get_table(glue: Any, database: str, table: str) -> dict[str, Any] | None:
    try:
        return dict(glue.get_table(DatabaseName=database, Name=table)["Table"])
    except glue.exceptions.EntityNotFoundException:
        return None


def _ensure_database(glue: Any, database: str) -> None:
    try:
        glue.get_database(Name=database)
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(DatabaseInput={"Name": database})


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def crawl(
    s3_client: Any,
    glue_client: Any,
    bucket: str,
    database: str,
    definition: CrawlerDefinition,
    *,
    name_prefix: str = "mtx-local",
) -> CrawlReport:
    """Crawl ``s3://bucket/<definition.s3_path>`` into ``database.<definition.table_name>``."""
    crawler_name = definition.crawler_name(name_prefix)
    report = CrawlReport(crawler_name=crawler_name, database=database, table=definition.table_name)
    prefix = definition.table_prefix
    location = f"s3://{bucket}/{prefix}"

    _ensure_database(glue_client, database)
    table = _get_table(glue_client, database, definition.table_name)
    known = _catalog_partitions(glue_client, database, definition.table_name) if table else {}

    folders, report.skipped = _list_folders(s3_client, bucket, prefix)
    report.partitions_missing = sorted(set(known) - set(folders))
    if definition.recrawl_behavior == "CRAWL_NEW_FOLDERS_ONLY" and table is not None:
        to_crawl = {value: folder for value, folder in folders.items() if value not in known}
    else:
        to_crawl = dict(folders)

    seen: dict[str, GlueType] = {}
    paths: set[str] = set()
    crawled: list[str] = []
    for value in sorted(to_crawl):
        records, objects, bad = sample_records(s3_client, bucket, to_crawl[value], definition)
        report.objects_sampled += objects
        report.records_sampled += len(records)
        report.records_unparseable += bad
        if not records:
            continue  # an empty or unreadable folder: Glue adds no partition for it either
        crawled.append(value)
        paths.update(key for record in records for key in record)
        seen, _, _ = glue_types.merge_columns(seen, glue_types.infer_columns(records))
    seen = {name.lower(): glue_types.lower_names(t) for name, t in seen.items()}
    report.pii_fields_found = _pii_paths(seen)
    if report.pii_fields_found:
        logger.error("%s: PII fields found in the analytics data: %s", crawler_name, report.pii_fields_found)

    if table is None:
        if not seen:
            logger.info("%s: no readable objects under %s; no table created", crawler_name, location)
            return report
        glue_client.create_table(
            DatabaseName=database,
            TableInput=_table_input(definition, crawler_name, seen, location, sorted(paths)),
        )
        report.table_created = True
        report.columns_added = list(seen)
        columns = seen
    else:
        columns = _catalog_columns(table)
        old_paths = table["StorageDescriptor"].get("SerdeInfo", {}).get("Parameters", {}).get("paths", "")
        merged, added, changed = glue_types.merge_columns(columns, seen)
        report.new_columns = added
        report.type_changes = changed
        if (added or changed) and definition.update_behavior == "UPDATE_IN_DATABASE":
            all_paths = sorted(set(filter(None, old_paths.split(","))) | paths)
            glue_client.update_table(
                DatabaseName=database,
                TableInput=_table_input(
                    definition, crawler_name, merged, table["StorageDescriptor"]["Location"], all_paths
                ),
            )
            report.columns_added = added
            report.schema_change_applied = True
            columns = merged
        elif added or changed:
            logger.warning(
                "%s: schema change logged, not applied (UpdateBehavior LOG): new %s, changed %s",
                crawler_name,
                added,
                changed,
            )
        location = table["StorageDescriptor"]["Location"]
        paths = set(filter(None, old_paths.split(","))) | paths

    new_partitions = [value for value in crawled if value not in known]
    inputs = [
        {
            "Values": [value],
            "StorageDescriptor": _storage_descriptor(
                columns,
                f"{location.rstrip('/')}/{definition.partition_key}={value}/",
                definition,
                sorted(paths),
            ),
        }
        for value in new_partitions
    ]
    for chunk in _chunks(inputs, _BATCH_CREATE_LIMIT):
        response = glue_client.batch_create_partition(
            DatabaseName=database, TableName=definition.table_name, PartitionInputList=chunk
        )
        errors = [e for e in response.get("Errors", []) if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"]
        if errors:
            raise RuntimeError(f"{crawler_name}: batch_create_partition failed: {errors[:3]}")
    report.partitions_added = new_partitions
    if report.partitions_missing:
        logger.warning(
            "%s: partitions without a folder (DeleteBehavior %s, kept): %s",
            crawler_name,
            definition.delete_behavior,
            report.partitions_missing,
        )
    logger.info(report.summary())
    return report
