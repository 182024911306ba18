"""Run by test_local_processes.py in a process of its own: a stack with MTX_LOCAL_PROCESSES, a few transactions
through the transaction state machine, and what each process did, as JSON on the last line of stdout.

In a process of its own because a stack sets process-wide things (the X-Ray daemon, the Lambda dispatch) that
the test session's own stack holds.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import psycopg

from orchestration.runtime import emf, manifest, xray
from orchestration.runtime.ingest import submit, wait_for
from orchestration.runtime.moto_process import MotoProcess
from orchestration.runtime.stack import LocalStack
from orchestration.sample_data.generate import generate


def main(home: Path, count: int) -> dict[str, object]:
    stack = LocalStack(home=home, time_scale=0.0, processes=2, name_prefix="mtx-procs")
    stack.start()
    try:
        assert isinstance(stack.moto, MotoProcess)
        records = list(generate(count, seed=23, invalid_share=0.0, duplicate_share=0.0))
        s = stack.require_settings()
        arns = [
            submit(r.line, settings=s, clients=stack.client, state_machine_arn=stack.state_machine_arn("transaction"),
                   queue_url=stack.dead_letter_queue_url).execution_arn
            for r in records
        ]  # fmt: skip
        out = wait_for(stack.client, [a for a in arns if a], timeout=600)
        ids = [json.loads(r.line)["transactionId"] for r in records]
        with psycopg.connect(stack.dsn("compliance")) as conn:
            rows = conn.execute(
                "select count(*) from compliance.transactions where transaction_id = any(%s)", (ids,)
            ).fetchone()
        segments = xray.read(stack.segments_file)
        metrics: dict[str, float] = {}
        for (name, _), value in emf.read(stack.metrics_file).items():
            metrics[name] = metrics.get(name, 0.0) + value
        # over the pipe: the child's journal of ended executions and its count of stream puts (after the metrics:
        # the stream's records count in them too)
        _, ended = stack.moto.ended_executions(0) or (0, [])
        started = set(arns)
        journalled = sorted(status for arn, _, status in ended if arn in started)
        poller = stack.stream_poller
        assert poller is not None
        poller.idle_read_seconds = 3600.0  # no read-anyway: only the count can send it to the shards
        kinesis = stack.client("kinesis")
        stream = kinesis.describe_stream_summary(StreamName=manifest.stream_name(s))["StreamDescriptionSummary"]
        before = stack.moto.stream_puts(stream["StreamARN"])
        extra = [json.loads(r.line) for r in generate(2, seed=24, invalid_share=0.0, duplicate_share=0.0)]
        kinesis.put_records(StreamName=stream["StreamName"], Records=[
            {"Data": json.dumps(r).encode(), "PartitionKey": r["transactionId"]} for r in extra])  # fmt: skip
        puts = stack.moto.stream_puts(stream["StreamARN"]) - before
        deadline = time.monotonic() + 120
        while poller.records_done < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        return {
            "stack_pid": os.getpid(),
            "moto_pid": stack.moto.pid,
            "worker_pids": stack.moto.worker_pids(),
            "stored": len(out.stored),
            "failed": len(out.failed),
            "rows": rows[0] if rows else 0,
            "invocations": stack.moto.invocations(),
            "function_names": {"validate": s.function_name("validate_transaction")},
            "metrics": metrics,
            "journalled": journalled,
            "stream_puts": puts,
            "stream_records_done": poller.records_done,
            "stream_skipped_rounds": poller.skipped_rounds,
            "status_listings": stack.status_events.listings if stack.status_events else None,
            "lambda_segments": sorted(d["name"] for d in segments if d.get("origin") == "AWS::Lambda::Function"),
        }  # fmt: skip
    finally:
        stack.stop()


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]))))
