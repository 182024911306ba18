"""The Enrich stage's parts without servers: the FX table (rate in force, rounding, missing rates), IP -> country
and region (IPv4, IPv6, private and unknown addresses), the first purchase (moto in-process: idempotent on the
transaction id), the per-transaction function's fields, and the scheduled refresh of the FX table."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws

from contracts import CONTRACT_VERSION
from contracts.warehouse import REGIONS
from lambdas.common import aws
from lambdas.common.enrich import Purchase, References, enrich_one, geo, static_fields
from lambdas.common.enrich import players as players_module
from lambdas.common.enrich.fx import FxTable
from lambdas.common.enrich.geo import REGION_OF, UNKNOWN_REGION, locate
from lambdas.common.enrich.players import first_purchases
from lambdas.common.errors import FxRateMissing, StorageUnavailable
from lambdas.refresh_fx_rates import handler as refresh
from orchestration.runtime.moto_dynamodb import patch_moto_dynamodb_writes
from orchestration.sample_data.catalogue import CATALOGUE, to_dynamodb_item
from orchestration.sample_data.fx import fx_document
from orchestration.settings import Settings, reset_settings_cache

pytestmark = pytest.mark.unit

TABLE = FxTable({"EUR": {"2025-01-01": "1.04", "2025-02-01": "1.03555555"}, "JPY": {"2025-01-01": "0.0064"}})


# --- FX ---------------------------------------------------------------------------------------------------
def test_the_rate_in_force_is_the_latest_on_or_before_the_event_date() -> None:
    assert TABLE.rate("EUR", "2025-01-31").rate_date == "2025-01-01"  # type: ignore[union-attr]
    assert TABLE.rate("EUR", "2025-02-01").rate_date == "2025-02-01"  # type: ignore[union-attr]
    assert TABLE.rate("EUR", "2026-12-05").usd_per_unit == Decimal("1.03555555")  # type: ignore[union-attr]


def test_amount_usd_is_rounded_half_up_to_four_places_as_the_warehouse_did() -> None:
    usd, rate = TABLE.convert(Decimal("9.99"), "EUR", "2025-02-10")
    assert usd == Decimal("10.3452")  # 9.99 x 1.03555555 = 10.34519994...
    assert rate.rate_date == "2025-02-01"
    assert TABLE.convert(Decimal("1500"), "JPY", "2025-03-01")[0] == Decimal("9.6000")


@pytest.mark.parametrize(("currency", "day"), [("EUR", "2024-12-31"), ("GBP", "2025-06-01")])
def test_no_rate_in_force_is_fx_rate_missing_naming_the_field_not_the_value(currency: str, day: str) -> None:
    with pytest.raises(FxRateMissing) as raised:
        TABLE.convert(Decimal("4.99"), currency, day)
    assert "item_purchased.price.currency" in str(raised.value)
    assert currency not in str(raised.value) and "4.99" not in str(raised.value)


def test_the_local_table_holds_every_seeded_currency() -> None:
    table = FxTable.from_document(json.dumps(fx_document()))
    assert {"USD", "EUR", "JPY", "AED"} <= table.currencies
    assert table.rate("USD", "2026-12-05").usd_per_unit == Decimal("1")  # type: ignore[union-attr]


# --- IP -> country ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("ip", "country", "region"),
    [
        ("8.8.8.8", "US", "americas"),
        ("1.0.16.1", "JP", "asia_pacific"),
        ("81.2.69.142", "GB", "europe"),
        ("2001:4860:4860::8888", "US", "americas"),
        ("2a00:1450:4001::1", "IE", "europe"),
        ("::ffff:1.0.16.1", "JP", "asia_pacific"),  # an IPv4-mapped IPv6 address is its IPv4 address
    ],
)
def test_public_addresses_get_their_country_and_region(ip: str, country: str, region: str) -> None:
    assert locate(ip) == (country, region)


@pytest.mark.parametrize(
    "ip", ["10.0.0.1", "192.168.1.20", "172.16.5.4", "127.0.0.1", "100.64.0.1", "203.0.113.9", "192.0.2.1",
           "198.51.100.1", "169.254.1.1", "224.0.0.1", "0.0.0.0", "255.255.255.255", "::1", "::", "fe80::1",
           "fd00::1", "fc00::1", "2001:db8::1", "::ffff:10.0.0.1", "::ffff:not.an.ip", "not an address", ""],
)  # fmt: skip
def test_private_reserved_and_unreadable_addresses_have_no_country(ip: str) -> None:
    assert locate(ip) == (None, UNKNOWN_REGION)


def test_every_region_is_named_and_no_country_is_in_two() -> None:
    assert set(REGION_OF.values()) | {UNKNOWN_REGION} == set(REGIONS)
    listed = [code for codes in geo._REGION_CODES.values() for code in codes.split()]
    assert len(listed) == len(set(listed)) == len(REGION_OF)
    assert all(len(code) == 2 and code.isupper() for code in REGION_OF)


# --- the per-transaction fields and the first purchase ----------------------------------------------------
@pytest.fixture
def enrich_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "MTX_REGION": "us-east-1",
                        "MTX_NAME_PREFIX": "mtx-enrich"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    reset_settings_cache()
    aws.reset_clients()
    s = Settings(name_prefix="mtx-enrich")
    patch_moto_dynamodb_writes()  # the local DynamoDB's BatchExecuteStatement INSERTs (the players' claims)
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        for table, key in ((s.players_table, "player_id"), (s.item_catalogue_table, "item_id")):
            ddb.create_table(TableName=table, KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST")  # fmt: skip
        for item in CATALOGUE[:3]:
            ddb.put_item(TableName=s.item_catalogue_table, Item=to_dynamodb_item(item))
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=s.fx_rates_bucket)
        s3.put_object(Bucket=s.fx_rates_bucket, Key=s.fx_rates_key, Body=json.dumps(fx_document()).encode())
        yield s
    aws.reset_clients()
    reset_settings_cache()


def _purchase(tx: str, player: str = "player_1", ip: str = "81.2.69.142", currency: str = "USD") -> Purchase:
    return Purchase(tx, player, "mtx_abyssal_wings", currency, Decimal("10.00"), "2025-02-09", ip)


def test_one_transaction_gets_every_enriched_field(enrich_aws: Settings) -> None:
    fields = enrich_one(_purchase("tx-1"), "game-server-eu", References())
    assert fields == {
        "amount_usd": 10.0, "usd_per_unit": 1.0, "fx_rate_date": "2025-02-01", "country": "GB", "region": "europe",
        "item_category": "vanity", "list_price_usd": 10.0, "contract_version": CONTRACT_VERSION,
        "application_id": "game-server-eu", "is_first_purchase": True,
    }  # fmt: skip
    assert "81.2.69.142" not in json.dumps(fields)
    unattributed = enrich_one(_purchase("tx-2"), None, References())
    assert unattributed["application_id"] == enrich_aws.default_application_id
    assert unattributed["is_first_purchase"] is False  # the player's second purchase


def test_the_first_purchase_stays_the_first_on_a_retry_and_no_other_is(enrich_aws: Settings) -> None:
    table = enrich_aws.players_table
    assert first_purchases(table, [("tx-a", "p1", "2025-02-09")]) == {"tx-a"}
    assert first_purchases(table, [("tx-a", "p1", "2025-02-09")]) == {"tx-a"}  # a retry: still the first
    assert first_purchases(table, [("tx-b", "p1", "2025-02-10")]) == {"tx-a"}  # another: not in the answer
    # in bulk: the first record of a new player in the batch's order; known players keep their first
    batch = [("tx-c", "p2", "2025-02-09"), ("tx-d", "p2", "2025-02-09"), ("tx-b", "p1", "2025-02-10")]
    assert first_purchases(table, batch) == {"tx-c", "tx-a"}
    assert first_purchases(table, batch) == {"tx-c", "tx-a"}


def test_new_players_are_claimed_25_a_call_a_raced_one_keeps_its_first_and_a_throttled_one_is_sent_again(
    enrich_aws: Settings,
) -> None:
    """60 new players in one batch: BatchExecuteStatement calls of 25, 25 and 10 INSERTs. Another writer puts one
    of them between our read and our claim (its INSERT is a DuplicateItem: the other writer's first stays, read
    back), and DynamoDB throttles another's statement (sent again alone). Every other claim is ours, once."""
    table = enrich_aws.players_table
    run = uuid.uuid4().hex[:8]
    players = [f"bulk-{run}-{i}" for i in range(60)]
    batch = [(f"tx-{run}-{i}", p, "2025-02-09") for i, p in enumerate(players)]
    raced, throttled = players[30], players[7]
    other = boto3.client("dynamodb", region_name="us-east-1")  # the other writer: not the product's client
    lock, sizes, state = threading.Lock(), [], {"raced": False, "throttled": False}

    def before(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        statements = params["Statements"]
        with lock:
            sizes.append(len(statements))
            if not state["raced"]:
                state["raced"] = True
                other.put_item(TableName=table, Item={"player_id": {"S": raced}, "first_transaction_id": {"S": "tx-x"},
                                                      "first_event_date": {"S": "2025-02-08"}})  # fmt: skip
            ids = [st["Parameters"][0]["S"] for st in statements]
            if not state["throttled"] and throttled in ids:
                state["throttled"] = True
                context["throttled_at"] = ids.index(throttled)  # not sent: answered as throttled below
                del statements[context["throttled_at"]]

    def after(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if "throttled_at" in context:
            error = {"Error": {"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity"}}
            parsed["Responses"].insert(context["throttled_at"], error)

    events = aws.client("dynamodb").meta.events
    events.register("before-parameter-build.dynamodb.BatchExecuteStatement", before)
    events.register("after-call.dynamodb.BatchExecuteStatement", after)
    try:
        firsts = first_purchases(table, batch)
    finally:
        events.unregister("before-parameter-build.dynamodb.BatchExecuteStatement", before)
        events.unregister("after-call.dynamodb.BatchExecuteStatement", after)
    ours = {tx for tx, p, _ in batch if p != raced}
    assert firsts == ours | {"tx-x"}  # the raced player's first is the other writer's transaction
    assert sorted(sizes) == [1, 10, 25, 25]  # three calls, then the throttled claim alone
    stored = {p: _first_of(table, p) for p in players}
    assert stored == {p: ("tx-x" if p == raced else tx) for tx, p, _ in batch}
    players_module._known_here.clear()  # a retry in a new container: read from the table, claimed once
    assert first_purchases(table, batch) == ours | {"tx-x"}
    assert sorted(sizes) == [1, 10, 25, 25]  # every player known: no claim sent again


def test_a_stale_first_look_still_answers_the_first_claim(enrich_aws: Settings) -> None:
    """The batch's first look at the players table is an eventually consistent read (half the read units). Played
    here as the stalest such read can be: it finds none of the players. Those claimed before still keep their
    first: the claim's condition refuses them and a consistent read brings their first back, for one new-looking
    player (PutItem) and for 30 (BatchExecuteStatement)."""
    table = enrich_aws.players_table
    run = uuid.uuid4().hex[:8]
    reads: list[bool] = []  # ConsistentRead of each BatchGetItem

    def before(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["consistent"] = params["RequestItems"][table]["ConsistentRead"]
        reads.append(context["consistent"])

    def after(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if not context["consistent"]:
            parsed["Responses"] = {table: []}  # stale: nothing found yet

    for n in (1, 30):
        players = [f"stale-{run}-{n}-{i}" for i in range(n)]
        earlier = [(f"tx-a-{p}", p, "2025-02-09") for p in players]
        assert first_purchases(table, earlier) == {tx for tx, _, _ in earlier}
        players_module._known_here.clear()  # another container: it has not seen them
        reads.clear()
        events = aws.client("dynamodb").meta.events
        events.register("before-parameter-build.dynamodb.BatchGetItem", before)
        events.register("after-call.dynamodb.BatchGetItem", after)
        try:
            later = [(f"tx-b-{p}", p, "2025-02-10") for p in players]
            assert first_purchases(table, later) == {tx for tx, _, _ in earlier}
        finally:
            events.unregister("before-parameter-build.dynamodb.BatchGetItem", before)
            events.unregister("after-call.dynamodb.BatchGetItem", after)
        assert reads[0] is False  # the first look: eventually consistent
        assert {_first_of(table, p) for p in players} == {tx for tx, _, _ in earlier}
        if n > 1:
            assert reads[1:] == [True, True]  # a consistent read back per call of claims (25 + 5)


def test_an_answer_that_does_not_match_the_claims_is_a_retry_not_a_guess(enrich_aws: Settings) -> None:
    """A BatchExecuteStatement answer with fewer responses than statements cannot be paired with the claims: the
    batch fails as StorageUnavailable (retried), and the retry answers from the table what the claims wrote."""
    table = enrich_aws.players_table
    run = uuid.uuid4().hex[:8]
    batch = [(f"tx-{run}-{i}", f"short-{run}-{i}", "2025-02-09") for i in range(5)]

    def after(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Responses"] = parsed["Responses"][:-1]

    events = aws.client("dynamodb").meta.events
    events.register("after-call.dynamodb.BatchExecuteStatement", after)
    try:
        with pytest.raises(StorageUnavailable, match="answered 4 of 5 statements"):
            first_purchases(table, batch)
    finally:
        events.unregister("after-call.dynamodb.BatchExecuteStatement", after)
    assert first_purchases(table, batch) == {tx for tx, _, _ in batch}


def _first_of(table: str, player: str) -> str:
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=table, Key={"player_id": {"S": player}}, ConsistentRead=True
    )["Item"]
    return str(item["first_transaction_id"]["S"])


def test_an_unlisted_item_has_no_category_and_a_missing_rate_is_named(enrich_aws: Settings) -> None:
    fx = FxTable.from_document(json.dumps(fx_document()))
    unlisted = Purchase("tx-x", "p9", "mtx_not_sold", "EUR", Decimal("1.99"), "2025-03-01", "10.1.2.3")
    fields = static_fields(unlisted, None, fx, "app")
    assert (fields["item_category"], fields["list_price_usd"], fields["country"]) == (None, None, None)
    with pytest.raises(FxRateMissing):
        static_fields(Purchase("tx-y", "p9", "x", "EUR", Decimal("1"), "2024-01-01", "8.8.8.8"), None, fx, "app")


def test_a_missing_fx_table_is_fx_rate_missing_and_read_again_next_time(enrich_aws: Settings) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.delete_object(Bucket=enrich_aws.fx_rates_bucket, Key=enrich_aws.fx_rates_key)
    refs = References()
    with pytest.raises(FxRateMissing):
        enrich_one(_purchase("tx-9", player="p-new"), "app", refs)
    s3.put_object(Bucket=enrich_aws.fx_rates_bucket, Key=enrich_aws.fx_rates_key,
                  Body=json.dumps(fx_document()).encode())  # fmt: skip
    assert enrich_one(_purchase("tx-9", player="p-new"), "app", refs)["is_first_purchase"] is True


# --- the scheduled refresh --------------------------------------------------------------------------------
def test_without_a_source_the_refresh_keeps_the_table_and_reports_its_age(enrich_aws: Settings) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    before = s3.get_object(Bucket=enrich_aws.fx_rates_bucket, Key=enrich_aws.fx_rates_key)["Body"].read()
    result = refresh.refresh(now=dt.datetime(2026, 12, 3, tzinfo=dt.UTC))
    assert result["outcome"] == "kept: no source configured"
    assert result["newest_rate_date"] == "2026-12-01" and result["age_hours"] == 48.0
    assert s3.get_object(Bucket=enrich_aws.fx_rates_bucket, Key=enrich_aws.fx_rates_key)["Body"].read() == before


def test_a_source_that_is_not_https_is_refused_and_the_table_kept(
    enrich_aws: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MTX_FX_RATES_SOURCE_URL", "http://rates.example/daily.json")
    reset_settings_cache()
    result: dict[str, Any] = refresh.refresh()
    assert result["outcome"] == "kept: the source failed (ValueError)"
