"""``mtx cost --rate N``: what each entrance needs and costs per month at N events per second, sustained.

A model on paper (docs/capacity.md explains every line): the stream entrance (Kinesis Data Streams
on-demand -> Lambda event source mapping -> one bulk handler per batch, docs/stream-ingest.md), the
per-transaction entrance (API Gateway -> one Express execution per transaction) and the
file entrance (S3 -> one Standard execution per file, chunks of 50,000). Prices come from
``aws_prices.json`` (with their source and date); capacity limits from the AWS quota pages (see
docs/capacity.md). What is not priced is said: database instances, Redshift nodes, NAT and data
transfer, and the free tiers.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from orchestration.cost.model import TRANSACTIONAL_WRU, Assumptions, batch_path, express_path, load_prices, rollup_items

SECONDS_PER_MONTH = 730 * 3600  # AWS prices a month as 730 hours

#: Kinesis: what one shard takes in (both capacity modes), and what an on-demand stream takes without a
#: quota increase (Kinesis Data Streams quotas page, on-demand mode).
SHARD_RECORDS_PER_S = 1_000
SHARD_BYTES_PER_S = 1_048_576
ON_DEMAND_DEFAULT_MAX_BYTES_PER_S = 200 * 1_048_576
ON_DEMAND_DEFAULT_MAX_RECORDS_PER_S = 200_000
#: Lambda event source mapping: at most ten batches of one shard in flight (ParallelizationFactor).
MAX_PARALLELIZATION_FACTOR = 10


@dataclass(frozen=True)
class StreamAssumptions:
    #: Average size of one transaction as sent (the generator's records average about 460 bytes);
    #: on-demand Kinesis bills each record rounded up to the next KiB.
    record_bytes: int = 460
    batch_size: int = 500  # records per Lambda invocation (BatchSize)
    batching_window_s: float = 1.0  # MaximumBatchingWindowInSeconds
    parallelization_factor: int = 1
    #: One bulk invocation: a fixed part, the round trips a batch makes whatever its size (the players' reads and
    #: claims, the rollups' transaction, the letters, the S3 object, COPY + merge + commit: about a dozen, ~100 ms
    #: in a region), and a part per record: the handler's CPU, measured by `make bench` on the stream path
    #: (1,000,000 records in batches of 500, 2026-12-06: 119 us a record of product CPU, the AWS clients' work
    #: included, on a 2-vCPU EPYC core; docs/benchmarks.md).
    invocation_fixed_ms: float = 100.0
    per_record_ms: float = 0.12
    lambda_memory_gb: float = 1.769  # 1 vCPU
    #: Rows per second one PostgreSQL primary takes by COPY for this table (two indexes, synchronous
    #: Multi-AZ commit). An assumption to measure on the chosen instance, not a published limit.
    compliance_rows_per_s_per_primary: int = 25_000
    #: Bytes one stored row takes in the compliance store, indexes and TOAST included (about 2.5x the
    #: JSON it came from).
    compliance_bytes_per_row: int = 1_200
    consumers: int = 1  # the event source mapping is the stream's one reader
    #: Game servers that send through ``POST /events`` (API Gateway -> the put_events Lambda -> PutRecords)
    #: instead of writing to the stream themselves: records per request (at most 500) and one invocation's
    #: billed time (parse the envelope, one PutRecords round trip).
    #: Real-time rollups one batch adds to (lambdas/common/realtime.py): live events fall in one or two hours, so
    #: about the games (~8) and the items bought (~100) of the batch, each an item of a TransactWriteItems.
    rollup_keys_per_batch: int = 110
    #: The players table of the Enrich stage: the share of records whose player is new (one conditional write), and
    #: read units per record for the players a container has not seen (BatchGetItem, eventually consistent).
    new_player_share: float = 0.05
    player_reads_per_record: float = 0.5
    records_per_events_request: int = 100
    put_events_ms: float = 30.0
    put_events_memory_gb: float = 0.25


@dataclass(frozen=True)
class Plan:
    rate: float
    assumptions: StreamAssumptions = field(default_factory=StreamAssumptions)

    @property
    def events_per_month(self) -> float:
        return self.rate * SECONDS_PER_MONTH

    @property
    def shards(self) -> int:
        """Shards the stream needs for writes (on-demand mode sizes itself; this is what it scales to)."""
        a = self.assumptions
        return max(1, math.ceil(max(self.rate / SHARD_RECORDS_PER_S, self.rate * a.record_bytes / SHARD_BYTES_PER_S)))

    @property
    def invocation_seconds(self) -> float:
        a = self.assumptions
        return (a.invocation_fixed_ms + a.batch_size * a.per_record_ms) / 1000

    @property
    def lambda_concurrency(self) -> int:
        """Concurrent bulk invocations: one per shard and parallelization slot, or what the rate keeps busy."""
        a = self.assumptions
        busy = math.ceil(self.rate / a.batch_size * self.invocation_seconds)
        return min(self.shards * a.parallelization_factor, max(busy, 1))

    @property
    def shard_keeps_up(self) -> bool:
        """One shard's batches, processed one at a time (per parallelization slot), drain faster than it fills."""
        a = self.assumptions
        drained = a.batch_size / self.invocation_seconds * a.parallelization_factor
        return drained >= min(SHARD_RECORDS_PER_S, self.rate)

    @property
    def compliance_primaries(self) -> int:
        return max(1, math.ceil(self.rate / self.assumptions.compliance_rows_per_s_per_primary))

    @property
    def compliance_gb_per_day(self) -> float:
        return self.rate * 86_400 * self.assumptions.compliance_bytes_per_row / 1024**3

    @property
    def needs_kinesis_quota_increase(self) -> bool:
        a = self.assumptions
        return (
            self.rate > ON_DEMAND_DEFAULT_MAX_RECORDS_PER_S
            or self.rate * a.record_bytes > ON_DEMAND_DEFAULT_MAX_BYTES_PER_S
            or self.rate > ON_DEMAND_DEFAULT_MAX_RECORDS_PER_S / 2  # on-demand absorbs 2x its previous peak
        )

    def stream_cost(self, prices: dict[str, float]) -> dict[str, float]:
        a = self.assumptions
        n = self.events_per_month
        billed_gb = n * math.ceil(a.record_bytes / 1024) / 1024**2  # KiB per record, rounded up, in GiB
        invocations = n / a.batch_size
        return {
            "Kinesis (on-demand)": 730 * prices["kinesis_ondemand_per_stream_hour"]
            + billed_gb * prices["kinesis_ondemand_per_gb_in"]
            + billed_gb * a.consumers * prices["kinesis_ondemand_per_gb_out"],
            "Lambda": invocations * prices["lambda_per_request"]
            + invocations * self.invocation_seconds * a.lambda_memory_gb * prices["lambda_per_gb_second"],
            # the players table (is_first_purchase: a conditional write per new player, one write unit, sent 25 to a
            # BatchExecuteStatement; an eventually consistent BatchGetItem read per player a container has not
            # seen) and the batch's real-time rollups (transactional: two units an item)
            "DynamoDB": n * a.new_player_share * prices["dynamodb_per_write_request_unit"]
            + n * a.player_reads_per_record * prices["dynamodb_per_read_request_unit"]
            + invocations
            * rollup_items(a.rollup_keys_per_batch)
            * TRANSACTIONAL_WRU
            * prices["dynamodb_per_write_request_unit"],
            "S3": invocations * prices["s3_per_put_request"],
        }

    def events_api_cost(self, prices: dict[str, float]) -> dict[str, float]:
        """What ``POST /events`` adds in front of the stream: one API request and one put_events invocation per
        ``records_per_events_request`` records."""
        a = self.assumptions
        requests = self.events_per_month / a.records_per_events_request
        return {
            "API Gateway (POST /events)": requests * prices["apigateway_rest_per_request"],
            "Lambda (put_events)": requests * prices["lambda_per_request"]
            + requests * a.put_events_ms / 1000 * a.put_events_memory_gb * prices["lambda_per_gb_second"],
        }

    def estimate(self) -> dict[str, Any]:
        doc = load_prices()
        prices = doc["prices"]
        per_tx = Assumptions(transactions=1_000_000)
        millions = self.events_per_month / 1_000_000
        stream = self.stream_cost(prices)
        front = self.events_api_cost(prices)
        api = {k: v * millions for k, v in express_path(per_tx, prices).items()}
        files = {k: v * millions for k, v in batch_path(per_tx, prices).items()}
        return {
            "rate_per_second": self.rate,
            "events_per_month": self.events_per_month,
            "prices_as_of": doc["as_of"],
            "stream": {
                "shards": self.shards,
                "lambda_concurrency": self.lambda_concurrency,
                "invocations_per_second": round(self.rate / self.assumptions.batch_size, 2),
                "shard_keeps_up": self.shard_keeps_up,
                "compliance_copy_per_second": round(self.rate / self.assumptions.batch_size, 2),
                "compliance_primaries": self.compliance_primaries,
                "compliance_gb_per_day": round(self.compliance_gb_per_day, 1),
                "kinesis_quota_increase": self.needs_kinesis_quota_increase,
                "monthly_usd": {k: round(v, 2) for k, v in stream.items()},
                "monthly_usd_total": round(sum(stream.values()), 2),
                "events_api_monthly_usd": {k: round(v, 2) for k, v in front.items()},
                "via_events_api_monthly_usd_total": round(sum(stream.values()) + sum(front.values()), 2),
            },
            "per_transaction_api_monthly_usd_total": round(sum(api.values()), 2),
            "file_batch_monthly_usd_total": round(sum(files.values()), 2),
        }


def report(rates: list[float]) -> str:
    """The table ``mtx cost --rate`` prints, one column per rate."""
    estimates = [Plan(rate).estimate() for rate in rates]
    rows: list[tuple[str, list[str]]] = [
        ("events per second", [f"{e['rate_per_second']:,.0f}" for e in estimates]),
        ("events per month", [f"{e['events_per_month'] / 1e9:,.2f} bn" for e in estimates]),
        ("stream: shards (1k rec/s each)", [str(e["stream"]["shards"]) for e in estimates]),
        ("stream: Lambda concurrency", [str(e["stream"]["lambda_concurrency"]) for e in estimates]),
        ("stream: a shard's batches keep up", ["yes" if e["stream"]["shard_keeps_up"] else "NO" for e in estimates]),
        (
            "stream: Kinesis quota increase",
            ["needed" if e["stream"]["kinesis_quota_increase"] else "no" for e in estimates],
        ),
        ("compliance: COPY per second", [f"{e['stream']['compliance_copy_per_second']:,}" for e in estimates]),
        ("compliance: PostgreSQL primaries", [str(e["stream"]["compliance_primaries"]) for e in estimates]),
        ("compliance: growth per day", [f"{e['stream']['compliance_gb_per_day']:,.0f} GiB" for e in estimates]),
        ("USD/month, stream entrance", [f"{e['stream']['monthly_usd_total']:,.0f}" for e in estimates]),
        (
            "USD/month, stream via POST /events",
            [f"{e['stream']['via_events_api_monthly_usd_total']:,.0f}" for e in estimates],
        ),
        (
            "USD/month, API (one Express each)",
            [f"{e['per_transaction_api_monthly_usd_total']:,.0f}" for e in estimates],
        ),
        ("USD/month, files (50k chunks)", [f"{e['file_batch_monthly_usd_total']:,.0f}" for e in estimates]),
    ]
    t = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1, 0, 1))
    t.add_column("", no_wrap=True)
    for _ in rates:
        t.add_column("", justify="right", no_wrap=True)
    for label, values in rows:
        t.add_row(label, *values)
    title = (f"Sustained rates (prices as of {estimates[0]['prices_as_of']}; not priced: database instances,"
             " Redshift nodes, NAT, data transfer; see docs/capacity.md)")  # fmt: skip
    return render([title, t])


def render(renderables: list[Any]) -> str:
    """Rich renderables as plain text (no colour, lines as wide as they need): what a log or a doc page shows."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=400, color_system=None, markup=False, highlight=False, emoji=False)
    for r in renderables:
        console.print(r)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())
