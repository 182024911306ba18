"""The Enrich stage on all three entrances of the real local stack: the API (the transaction workflow), a file
dropped under incoming/ (batch chunks) and the Kinesis stream (the local event source mapping). The same four
purchases go through each: the analytics copy carries amount_usd at the event date's rate, the country and region
of the client IP (IPv4, IPv6, a private address), the item's category and list price, the first purchase of each
player (and only it), the contract version and the producing application, and never the IP; a purchase dated
before any FX rate is dead-lettered as FxRateMissing."""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal
from typing import Any

import pytest

from contracts import CONTRACT_VERSION
from lambdas.common.enrich import FxTable
from orchestration.cli import batch, dlq
from orchestration.cli.stream_replay import replay
from orchestration.runtime.ingest import wait_for
from orchestration.runtime.resources import stream_name
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.fx import fx_document
from tests.helpers import objects_written_since, s3_clock, seed_tx, unique_id

pytestmark = pytest.mark.integration

FX = FxTable.from_document(json.dumps(fx_document()))
#: (client IP, its country, its region), one set per entrance so a leak is traced to its entrance
ADDRESSES = {
    "api": (("81.2.69.142", "GB", "europe"), ("2001:4860:4860::8888", "US", "americas")),
    "file": (("81.2.69.160", "GB", "europe"), ("2001:4860:4860::8844", "US", "americas")),
    "stream": (("1.0.16.1", "JP", "asia_pacific"), ("2a00:1450:4001::1", "IE", "europe")),
}
PRIVATE = "10.20.30.40"


def purchases(entrance: str) -> list[dict[str, Any]]:
    """Two purchases of a new player (public IPv4, then IPv6), one of another from a private address, and one dated
    before the FX table's first rate."""
    (ip4, _, _), (ip6, _, _) = ADDRESSES[entrance]
    first_player, second_player = unique_id("p"), unique_id("p")
    eur = {"item_id": "mtx_abyssal_wings", "item_name": "Abyssal Wings", "item_type": "cosmetic",
           "price": {"currency": "EUR", "amount": 10}}  # fmt: skip
    return [
        seed_tx(user_id=first_player, client_ip=ip4, item_purchased=eur, event_timestamp="2025-03-15T10:00:00Z"),
        seed_tx(user_id=first_player, client_ip=ip6, event_timestamp="2025-03-16T10:00:00Z"),
        seed_tx(user_id=second_player, client_ip=PRIVATE),
        seed_tx(user_id=unique_id("p"), client_ip=ip4, event_timestamp="2024-06-01T00:00:00Z"),
    ]


def analytics_records(stack: LocalStack, ids: set[str], since: dt.datetime) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    bucket = stack.require_settings().analytics_bucket
    for _key, body in objects_written_since(stack.client("s3"), bucket, since, prefix="transactions/"):
        for line in body.splitlines():
            record = json.loads(line)
            if record["transactionId"] in ids:
                found[record["transactionId"]] = record
    return found


def assert_no_ip_in_analytics_stores(stack: LocalStack, addresses: list[str], since: dt.datetime) -> None:
    """Not in any analytics object written since the test began (each test of this file checks its own), nor in
    any item of the DynamoDB analytics table (the real-time copy)."""
    s = stack.require_settings()
    for key, body in objects_written_since(stack.client("s3"), s.analytics_bucket, since):
        text = body.decode()
        assert not [a for a in addresses if a in text], key
    for page in stack.client("dynamodb").get_paginator("scan").paginate(TableName=s.analytics_table):
        text = json.dumps(page["Items"])
        assert not [a for a in addresses if a in text]


def check(stack: LocalStack, entrance: str, sent: list[dict[str, Any]], application_id: str, since: dt.datetime,
          ordered: bool = True) -> None:  # fmt: skip
    (_, c4, r4), (_, c6, r6) = ADDRESSES[entrance]
    first, second, private, undated = sent
    records = analytics_records(stack, {t["transactionId"] for t in sent}, since)
    assert set(records) == {first["transactionId"], second["transactionId"], private["transactionId"]}
    a, b, c = records[first["transactionId"]], records[second["transactionId"]], records[private["transactionId"]]
    usd, rate = FX.convert(Decimal("10.00"), "EUR", "2025-03-15")
    assert (Decimal(str(a["amount_usd"])), a["fx_rate_date"]) == (usd, "2025-03-01") and usd != Decimal("10.00")
    assert Decimal(str(a["usd_per_unit"])) == rate.usd_per_unit
    assert (Decimal(str(b["amount_usd"])), b["usd_per_unit"]) == (Decimal("10.00"), 1.0)
    assert (a["country"], a["region"], b["country"], b["region"]) == (c4, r4, c6, r6)
    assert (c["country"], c["region"]) == (None, "unknown")
    if ordered:
        assert (a["is_first_purchase"], b["is_first_purchase"], c["is_first_purchase"]) == (True, False, True)
    else:  # the stream's shards (partitioned by transaction id) are read in no set order: one of the two is first
        assert sorted([a["is_first_purchase"], b["is_first_purchase"]]) == [False, True] and c["is_first_purchase"]
    for record in (a, b, c):
        assert (record["item_category"], record["list_price_usd"]) == ("vanity", 10.0)
        assert (record["contract_version"], record["application_id"]) == (CONTRACT_VERSION, application_id)
        assert "client_ip" not in record and record["ingested_at"]
    letters = [d for d in dlq.list_dead_letters(stack.client, stack.dead_letter_queue_url)
               if d.transaction_id == undated["transactionId"]]  # fmt: skip
    assert [d.error for d in letters] == ["FxRateMissing"]
    assert "item_purchased.price.currency" in letters[0].reason
    assert_no_ip_in_analytics_stores(stack, [ip for pair in ADDRESSES.values() for ip, _, _ in pair] + [PRIVATE],
                                     since)  # fmt: skip


def test_the_api_entrance_enriches_each_transaction(clean_queues: LocalStack) -> None:
    stack = clean_queues
    since = s3_clock()
    sent = purchases("api")
    for tx in sent:  # one after the other: the first purchase is the first sent
        wait_for(stack.client, [_post(stack, tx)])
    check(stack, "api", sent, stack.producer_id, since)
    key = {"transaction_id": {"S": sent[0]["transactionId"]}}
    item = stack.client("dynamodb").get_item(TableName=stack.require_settings().analytics_table, Key=key)["Item"]
    assert item["country"] == {"S": "GB"} and item["is_first_purchase"] == {"BOOL": True}


def _post(stack: LocalStack, tx: dict[str, Any]) -> str:
    import urllib.request

    assert stack.api is not None
    request = urllib.request.Request(f"{stack.api.url}/transactions", data=json.dumps(tx).encode(), method="POST",
                                     headers=stack.api_headers())  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(json.loads(answer.read())["executionArn"])


def test_the_file_entrance_enriches_each_record(clean_queues: LocalStack) -> None:
    stack = clean_queues
    s = stack.require_settings()
    since = s3_clock()
    sent = purchases("file")
    name = f"{unique_id('enrich')}.ndjson"
    body = "".join(json.dumps(tx) + "\n" for tx in sent).encode()
    known = batch.run_ids(stack.client, s, f"incoming/{name}")
    key = batch.upload_bytes(stack.client, s, body, name)
    batch.wait_for_run(stack.client, s, key, timeout=600, known=known)
    check(stack, "file", sent, s.default_application_id, since)


def test_the_stream_entrance_enriches_each_record(clean_queues: LocalStack) -> None:
    stack = clean_queues
    poller = stack.stream_poller
    assert poller is not None
    since = s3_clock()
    sent = purchases("stream")
    before = poller.records_done
    done = replay(
        stack.client("kinesis"), stream_name(stack.require_settings()), [json.dumps(t).encode() for t in sent]
    )
    assert (done.sent, done.failed_puts) == (4, 0)
    deadline = time.monotonic() + 120
    while poller.records_done - before < 4:
        assert time.monotonic() < deadline, "the stream's records were not settled"
        time.sleep(0.2)
    check(stack, "stream", sent, stack.require_settings().default_application_id, since, ordered=False)
