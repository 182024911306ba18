"""The Enrich stage's cost per transaction, beside the validation floor (same run, same records).

- ``validate_floor``: what every entrance pays anyway per record: orjson parse + the bulk contract check
  (``fast_contract.accept``; ``validate_transaction`` for the few it leaves to the contract);
- ``validate_contract``: the contract's own pydantic validation (the per-transaction path);
- ``enrich_pure``: the pure part of the stage per record (FX lookup and conversion, IP -> country/region, item
  attributes, stamps): ``BulkEnricher.fields``, IP cache cold (every address new) and warm;
- ``first_purchase``: the players table per batch of 500 records (BatchGetItem + a BatchExecuteStatement of
  conditional INSERTs per 25 new players), against
  moto in-process: it counts the calls, and its time is moto's, not DynamoDB's (a network round trip each in AWS).
The figure that matters: ``enrich_pure`` / ``validate_floor``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import orjson

from benchmarks.common import Report, env_int, repeats
from contracts import Window, validate_transaction
from lambdas.common.enrich import BulkEnricher, FxTable, geo
from lambdas.common.fast_contract import Horizon, accept, from_transaction
from lambdas.process_chunk.records import purchase_of
from orchestration.sample_data.catalogue import CATALOGUE, to_dynamodb_item
from orchestration.sample_data.fx import fx_document
from orchestration.sample_data.generate import generate


def _per_record_us(fn: Callable[[], Any], n: int, repeat: int | None = None) -> float:
    best = float("inf")
    for _ in range(repeats(3) if repeat is None else repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return round(best / n * 1e6, 3)


def _first_purchase(accepted: list[Any]) -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    from lambdas.common import aws
    from lambdas.common.enrich import players as players_module
    from lambdas.common.enrich.players import first_purchases
    from orchestration.runtime.moto_dynamodb import patch_moto_dynamodb_writes

    patch_moto_dynamodb_writes()  # the local DynamoDB: the claims' BatchExecuteStatement INSERTs
    with mock_aws():
        aws.reset_clients()
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="bench-players", KeySchema=[{"AttributeName": "player_id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "player_id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")  # fmt: skip
        batches = [accepted[i : i + 500] for i in range(0, len(accepted), 500)]
        t = time.perf_counter()
        for part in batches:
            first_purchases("bench-players", [(a.transaction_id, a.user_id, a.event_date) for a in part])
        new_seconds = time.perf_counter() - t
        players_module._known_here.clear()  # a cold container: the known players come from the table
        t = time.perf_counter()
        for part in batches:  # the same batches again (a retry): every player known
            first_purchases("bench-players", [(a.transaction_id, a.user_id, a.event_date) for a in part])
        known_seconds = time.perf_counter() - t
    aws.reset_clients()
    players = len({a.user_id for a in accepted})
    return {
        "records": len(accepted), "players": players, "batch_size": 500,
        "new_players_us_per_record_moto": round(new_seconds / len(accepted) * 1e6, 1),
        "known_players_cold_container_us_per_record_moto": round(known_seconds / len(accepted) * 1e6, 1),
        "calls_per_batch": "ceil(unseen players/100) BatchGetItem + ceil(new players/25) BatchExecuteStatement of"
        " conditional INSERTs (8 threads; one new player: a conditional PutItem)",
    }  # fmt: skip


def run(report: Report, n: int | None = None) -> None:
    import os

    n = n or env_int("MTX_BENCH_ENRICH_RECORDS", 20_000)

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    lines = [r.line for r in generate(n, seed=7, invalid_share=0.0, duplicate_share=0.0)]
    window = Window.at()
    horizon = Horizon.of(window)
    parsed = [orjson.loads(line) for line in lines]
    accepted = [accept(d, line, horizon) or from_transaction(validate_transaction(line, window=window))
                for d, line in zip(parsed, lines, strict=True)]  # fmt: skip
    items = {it["item_id"]["S"]: it for it in map(to_dynamodb_item, CATALOGUE)}
    enricher = BulkEnricher(items, FxTable.from_document(json.dumps(fx_document())), "bench")
    purchases = [purchase_of(a) for a in accepted]

    def floor() -> None:
        for line in lines:
            data = orjson.loads(line)
            if accept(data, line, horizon) is None:
                validate_transaction(line, window=window)

    def contract() -> None:
        for line in lines:
            validate_transaction(line, window=window)

    def enrich_cold() -> None:
        geo.locate.cache_clear()
        for p in purchases:
            enricher.fields(p)

    def enrich_warm() -> None:
        for p in purchases:
            enricher.fields(p)

    floor_us = _per_record_us(floor, n)
    cold_us = _per_record_us(enrich_cold, n)
    warm_us = _per_record_us(enrich_warm, n)
    report.add("enrichment", {
        "records": n, "distinct_ips": len({p.client_ip for p in purchases}),
        "validate_floor_us_per_record": floor_us,
        "validate_contract_us_per_record": _per_record_us(contract, n, repeat=1),
        "enrich_pure_cold_ip_cache_us_per_record": cold_us,
        "enrich_pure_warm_ip_cache_us_per_record": warm_us,
        "enrich_pure_over_validate_floor": round(cold_us / floor_us, 2),
        "first_purchase": _first_purchase(accepted[:5000]),
    })  # fmt: skip
