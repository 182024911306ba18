"""``mtx cost``: what 1,000,000 transactions cost to ingest, per path, from published prices.

Prices live in ``aws_prices.json`` with their source and date. The usage model
per path follows the state machines in this repository (states, Lambda calls,
DynamoDB/SQS/SNS/S3 requests); durations and memory sizes are parameters with
the values Terraform configures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).with_name("aws_prices.json")


@dataclass(frozen=True)
class Assumptions:
    transactions: int = 1_000_000
    invalid_share: float = 0.04
    lambda_memory_gb: float = 0.25  # 256 MB for the per-transaction functions
    lambda_ms: float = 60.0  # average billed duration per per-transaction invocation
    express_ms: float = 400.0  # one Express execution end to end
    express_memory_gb: float = 0.0625  # Express bills at least 64 MB
    chunk_records: int = 50_000
    chunk_lambda_memory_gb: float = 1.769  # 1 vCPU
    chunk_seconds: float = 25.0  # one ProcessChunk invocation on 50k records
    partitions_per_chunk: int = 90  # dt= objects written per chunk (90 days of events)
    #: Real-time rollups (lambdas/common/realtime.py) one chunk adds to: game x hour and item x day keys its
    #: records touch (90 days, ~8 games, ~100 items: at most ~26,000), written in transactions of 99 (+ a marker).
    rollup_keys_per_chunk: int = 20_000


#: A transactional write (TransactWriteItems) costs two write units per item.
TRANSACTIONAL_WRU = 2
#: The per-transaction path's real-time write: one marker + the game's hour + the item's day, in one transaction.
ROLLUP_ITEMS_PER_VERSION = 3


def load_prices() -> dict[str, Any]:
    return dict(json.loads(PRICES_FILE.read_text()))


def rollup_items(keys: int) -> int:
    """Items a bulk writer's real-time transactions hold for ``keys`` rollups: the rollups + a marker per 99."""
    return keys + -(-keys // 99)


def express_path(a: Assumptions, p: dict[str, float]) -> dict[str, float]:
    n = a.transactions
    bad = n * a.invalid_share
    lambdas_per_tx = 6  # validate, check item, enrich, strip PII, store compliance, store analytics
    return {
        "API Gateway": n * p["apigateway_rest_per_request"],
        "Step Functions (Express)": n * p["stepfunctions_express_per_request"]
        + n * (a.express_ms / 1000) * a.express_memory_gb * p["stepfunctions_express_per_gb_second"],
        "Lambda": n * lambdas_per_tx * p["lambda_per_request"]
        + n * lambdas_per_tx * (a.lambda_ms / 1000) * a.lambda_memory_gb * p["lambda_per_gb_second"],
        # status put + status update + analytics put (writes), the real-time rollups' transaction; catalogue get
        # (strongly consistent read)
        "DynamoDB": n * (3 + ROLLUP_ITEMS_PER_VERSION * TRANSACTIONAL_WRU) * p["dynamodb_per_write_request_unit"]
        + n * 2 * p["dynamodb_per_read_request_unit"],
        "SQS": bad * p["sqs_per_request"],
        "SNS": bad * p["sns_per_publish"],
        "S3": n * p["s3_per_put_request"],
    }


def batch_path(a: Assumptions, p: dict[str, float]) -> dict[str, float]:
    n = a.transactions
    chunks = -(-n // a.chunk_records)
    bad = n * a.invalid_share
    transitions = 8 + chunks * 3  # run states + per chunk (item, task, end)
    return {
        "Step Functions (Standard)": transitions * p["stepfunctions_standard_per_transition"],
        "Lambda": (3 + chunks) * p["lambda_per_request"]
        + chunks * a.chunk_seconds * a.chunk_lambda_memory_gb * p["lambda_per_gb_second"]
        + 60 * a.chunk_lambda_memory_gb * p["lambda_per_gb_second"],  # SplitFile streaming the file
        "DynamoDB": (2 + chunks * rollup_items(a.rollup_keys_per_chunk) * TRANSACTIONAL_WRU)
        * p["dynamodb_per_write_request_unit"]
        + chunks * 100 * p["dynamodb_per_read_request_unit"],
        "SQS": (bad / 10) * p["sqs_per_request"],  # SendMessageBatch, 10 a call
        "SNS": 2 * p["sns_per_publish"],
        "S3": (1 + chunks + chunks * a.partitions_per_chunk) * p["s3_per_put_request"]
        + (1 + chunks) * p["s3_per_get_request"],
    }


def estimate(a: Assumptions | None = None) -> dict[str, Any]:
    a = a or Assumptions()
    doc = load_prices()
    prices = doc["prices"]
    express = express_path(a, prices)
    bulk = batch_path(a, prices)
    return {
        "transactions": a.transactions,
        "prices_source": doc["source"],
        "prices_as_of": doc["as_of"],
        "per_transaction_express": {k: round(v, 4) for k, v in express.items()},
        "per_transaction_express_total": round(sum(express.values()), 2),
        "batch_file": {k: round(v, 4) for k, v in bulk.items()},
        "batch_file_total": round(sum(bulk.values()), 2),
    }
