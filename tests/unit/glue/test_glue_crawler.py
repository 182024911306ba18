"""The local crawler against moto (S3 + Glue Data Catalog in-process), and its definition file."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from glue_jobs import glue_types
from orchestration.runtime import glue_crawler as crawler
from orchestration.runtime.glue_crawler import CrawlerDefinition, InvalidCrawlerDefinition
from tests.glue_helpers import make_tx, put_records, record

pytestmark = pytest.mark.unit
DATABASE = "mtx_test"


def _columns(glue: Any, table: str = "transactions") -> dict[str, str]:
    t = glue.get_table(DatabaseName=DATABASE, Name=table)["Table"]
    return {c["Name"]: c["Type"] for c in t["StorageDescriptor"]["Columns"]}


def _partitions(glue: Any) -> dict[str, dict[str, Any]]:
    got = glue.get_partitions(DatabaseName=DATABASE, TableName="transactions")["Partitions"]
    return {p["Values"][0]: p for p in got}


def test_the_definition_file_is_what_terraform_and_aws_glue_accept() -> None:
    raw = json.loads(crawler.TRANSACTIONS_DEFINITION.read_text())
    d = crawler.load_definition()
    assert d.crawler_name("mtx-dev") == "mtx-dev-transactions-crawler"
    assert (d.table_name, d.s3_path, d.partition_key) == ("transactions", "transactions/", "dt")
    assert d.recrawl_behavior == "CRAWL_NEW_FOLDERS_ONLY"
    assert (d.update_behavior, d.delete_behavior) == ("LOG", "LOG")
    assert d.serde == "org.openx.data.jsonserde.JsonSerDe"
    # one table at transactions/ (level 2 of s3://bucket/transactions/), partitions inherit its schema
    assert raw["configuration"]["Grouping"]["TableLevelConfiguration"] == 2
    assert raw["configuration"]["CrawlerOutput"]["Partitions"]["AddOrUpdateBehavior"] == "InheritFromTable"


def test_aws_glue_refuses_update_in_database_with_crawl_new_folders_only() -> None:
    raw = json.loads(crawler.TRANSACTIONS_DEFINITION.read_text())
    raw["schema_change_policy"] = {"update_behavior": "UPDATE_IN_DATABASE", "delete_behavior": "LOG"}
    with pytest.raises(InvalidCrawlerDefinition, match="CRAWL_NEW_FOLDERS_ONLY requires"):
        CrawlerDefinition.from_dict(raw)
    raw["recrawl_policy"] = {"recrawl_behavior": "CRAWL_EVERYTHING"}
    assert CrawlerDefinition.from_dict(raw).update_behavior == "UPDATE_IN_DATABASE"


def test_crawl_creates_the_table_then_changes_nothing_then_adds_one_partition(aws: dict[str, Any]) -> None:
    s3, glue, bucket = aws["s3"], aws["glue"], aws["bucket"]
    definition = crawler.load_definition()
    # one object per transaction on one day, an NDJSON batch on another
    put_records(s3, bucket, "2025-02-09", [record(make_tx(1)), record(make_tx(2))])
    put_records(s3, bucket, "2025-02-10", [record(make_tx(3)), record(make_tx(4))], name="batch-r1-0.ndjson")
    s3.put_object(Bucket=bucket, Key="transactions/dt=2025-02-10/_SUCCESS", Body=b"")

    first = crawler.crawl(s3, glue, bucket, DATABASE, definition)

    assert first.table_created and first.changed
    assert first.partitions_added == ["2025-02-09", "2025-02-10"]
    assert first.pii_fields_found == []
    assert first.objects_sampled == 3 and first.records_sampled == 4
    columns = _columns(glue)
    assert list(columns) == [
        "transactionid", "user_id", "game", "item_purchased", "payment_details",
        "event_timestamp", "server_region", "ingested_at",
    ]  # fmt: skip
    assert columns["transactionid"] == "string"
    assert columns["item_purchased"] == (
        "struct<item_id:string,item_name:string,item_type:string,price:struct<currency:string,amount:double>>"
    )
    assert columns["event_timestamp"] == "string"
    table = glue.get_table(DatabaseName=DATABASE, Name="transactions")["Table"]
    assert table["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert table["StorageDescriptor"]["Location"] == f"s3://{bucket}/transactions/"
    serde = table["StorageDescriptor"]["SerdeInfo"]
    assert serde["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert "transactionId" in serde["Parameters"]["paths"].split(",")
    assert table["Parameters"]["classification"] == "json"
    partitions = _partitions(glue)
    assert partitions["2025-02-10"]["StorageDescriptor"]["Location"] == f"s3://{bucket}/transactions/dt=2025-02-10/"

    again = crawler.crawl(s3, glue, bucket, DATABASE, definition)

    assert not again.changed
    assert (again.partitions_added, again.columns_added, again.new_columns) == ([], [], [])
    assert again.objects_sampled == 0  # CRAWL_NEW_FOLDERS_ONLY: known folders are not read again
    assert "unchanged" in again.summary()

    put_records(s3, bucket, "2025-02-11", [record(make_tx(5))])
    third = crawler.crawl(s3, glue, bucket, DATABASE, definition)

    assert third.changed and not third.table_created
    assert third.partitions_added == ["2025-02-11"]
    assert third.new_columns == []
    assert sorted(_partitions(glue)) == ["2025-02-09", "2025-02-10", "2025-02-11"]


def test_a_new_field_is_logged_under_log_and_merged_under_update_in_database(aws: dict[str, Any]) -> None:
    s3, glue, bucket = aws["s3"], aws["glue"], aws["bucket"]
    definition = crawler.load_definition()
    put_records(s3, bucket, "2025-02-09", [record(make_tx(1))])
    crawler.crawl(s3, glue, bucket, DATABASE, definition)
    put_records(s3, bucket, "2025-02-10", [record(make_tx(2)) | {"promo_code": "SPRING25"}])

    logged = crawler.crawl(s3, glue, bucket, DATABASE, definition)

    assert logged.new_columns == ["promo_code"]
    assert logged.columns_added == [] and not logged.schema_change_applied
    assert logged.partitions_added == ["2025-02-10"]
    assert "promo_code" not in _columns(glue)
    assert "new columns logged, not applied ['promo_code']" in logged.summary()

    updating = dataclasses.replace(
        definition, update_behavior="UPDATE_IN_DATABASE", recrawl_behavior="CRAWL_EVERYTHING"
    )
    updating.validate()
    merged = crawler.crawl(s3, glue, bucket, DATABASE, updating)

    assert merged.columns_added == ["promo_code"] and merged.schema_change_applied
    assert _columns(glue)["promo_code"] == "string"
    assert merged.partitions_added == []
    assert not crawler.crawl(s3, glue, bucket, DATABASE, updating).changed


def test_crawl_reports_pii_found_in_the_analytics_data(aws: dict[str, Any]) -> None:
    s3, glue, bucket = aws["s3"], aws["glue"], aws["bucket"]
    leaked = make_tx(1).to_json_dict() | {"ingested_at": "2025-02-09T12:35:00Z"}
    put_records(s3, bucket, "2025-02-09", [leaked])

    report = crawler.crawl(s3, glue, bucket, DATABASE, crawler.load_definition())

    assert report.pii_fields_found == ["client_ip", "payment_details.card_last4"]


def test_crawl_of_an_empty_prefix_creates_nothing(aws: dict[str, Any]) -> None:
    report = crawler.crawl(aws["s3"], aws["glue"], aws["bucket"], DATABASE, crawler.load_definition())
    assert not report.changed and not report.table_created
    with pytest.raises(aws["glue"].exceptions.EntityNotFoundException):
        aws["glue"].get_table(DatabaseName=DATABASE, Name="transactions")


def test_unparseable_objects_are_counted_not_fatal(aws: dict[str, Any]) -> None:
    s3, glue, bucket = aws["s3"], aws["glue"], aws["bucket"]
    s3.put_object(Bucket=bucket, Key="transactions/dt=2025-02-09/bad.json", Body=b"not json")
    s3.put_object(Bucket=bucket, Key="transactions/dt=2025-02-09/empty.json", Body=b"")
    put_records(s3, bucket, "2025-02-09", [record(make_tx(1))])
    s3.put_object(Bucket=bucket, Key="transactions/stray.json", Body=b"{}")

    report = crawler.crawl(s3, glue, bucket, DATABASE, crawler.load_definition())

    assert report.table_created and report.records_unparseable == 1
    assert report.skipped == ["transactions/stray.json"]


@pytest.mark.parametrize(
    "text",
    [
        "string",
        "decimal(18,3)",
        "array<bigint>",
        "struct<a:string,b:struct<c:double,d:array<struct<e:boolean>>>,f:decimal(38,18)>",
    ],
)
def test_glue_type_strings_round_trip(text: str) -> None:
    assert glue_types.render(glue_types.parse(text)) == text


def test_glue_type_inference_and_widening() -> None:
    columns = glue_types.infer_columns(
        [{"a": 1, "b": {"x": 1}, "c": [1, 2.5], "d": None}, {"a": 2.5, "b": {"y": "s"}, "d": True, "e": "x"}]
    )
    assert {k: glue_types.render(v) for k, v in columns.items()} == {
        "a": "double",
        "b": "struct<x:bigint,y:string>",
        "c": "array<double>",
        "d": "boolean",
        "e": "string",
    }
    assert glue_types.merge("bigint", "string") == "string"
