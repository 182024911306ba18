"""DeadLetterChunk: a chunk failed after its retries; its records go to the dead-letter queue.

First what the chunk may have stored is removed (rows it owns, its analytics
objects), so no record is both stored and dead-lettered. Records that fail the
contract or the catalogue carry their own reason; the others carry the chunk's error.
"""

from __future__ import annotations

from typing import Any

from contracts import MAX_TRANSACTION_BYTES, InvalidTransaction, validate_transaction
from contracts.config import get_settings
from contracts.timestamps import now_iso
from lambdas.check_item.handler import check_transaction
from lambdas.common import metrics
from lambdas.common.aws import client
from lambdas.common.dead_letters import dead_letter_message, queue_url, send_batch
from lambdas.common.errors import PipelineError, cause_message, stable_errors
from lambdas.common.logging import get_logger
from lambdas.common.tracing import correlated, get_tracer
from lambdas.process_chunk.handler import load_catalogue, undo_chunk
from lambdas.process_chunk.quarantine import quarantine_oversize
from lambdas.process_chunk.records import as_bytes, chunk_lines

logger = get_logger("dead-letter-chunk")
tracer = get_tracer("dead-letter-chunk")


def dead_letter_chunk(chunk: dict[str, Any], run_id: str, error: dict[str, Any]) -> dict[str, Any]:
    undone = undo_chunk(run_id, int(chunk["index"]))
    name, reason = str(error.get("Error", "ChunkFailed")), cause_message(error)
    received = now_iso()
    body = client("s3").get_object(Bucket=chunk["bucket"], Key=chunk["key"])["Body"].read()
    catalogue = load_catalogue()
    messages = []
    oversize: list[tuple[int, bytes]] = []
    for number, raw in enumerate(chunk_lines(body), start=1):  # the records exactly as ProcessChunk reads them
        if len(raw) * 4 > MAX_TRANSACTION_BYTES and len(as_bytes(raw)) > MAX_TRANSACTION_BYTES:
            oversize.append((number, as_bytes(raw)))  # quarantined whole, as ProcessChunk does: no dead letter
            continue  # can hold it (SQS takes 256 KB)
        try:
            tx = validate_transaction(raw)
        except InvalidTransaction as exc:
            shown = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
            messages.append(dead_letter_message(shown, exc.transaction_id, "InvalidTransaction", str(exc), received,
                                                "ProcessChunk", detail={"fields": exc.fields()}))  # fmt: skip
            continue
        try:
            check_transaction(catalogue.get(tx.item_purchased.item_id), tx)
        except PipelineError as exc:
            messages.append(dead_letter_message(tx.to_json_dict(), tx.transaction_id, type(exc).__name__, str(exc),
                                                received, "ProcessChunk"))  # fmt: skip
            continue
        messages.append(dead_letter_message(tx.to_json_dict(), tx.transaction_id, name,
                                            f"chunk {chunk['index']} of run {run_id}: {reason}", received,
                                            "ProcessChunk"))  # fmt: skip
    messages += quarantine_oversize(oversize, run_id, int(chunk["index"]), received, chunk.get("first_record"))
    # the same scope as ProcessChunk's: a letter it had sent before it failed is not sent twice
    sent = send_batch(queue_url(get_settings().dead_letter_queue_name), messages, f"{run_id}/chunk-{chunk['index']}")
    # ProcessChunk published nothing for this chunk (it publishes once it has settled it): its records count here
    metrics.emit("TransactionsReceived", len(messages), Entrance="file")
    metrics.dead_lettered("file", messages)
    if oversize:
        metrics.emit("RecordsQuarantined", len(oversize), Entrance="file")
    return {"index": chunk["index"], "records": len(messages), "stored": 0, "duplicates": 0, "dead_lettered": sent,
            "quarantined": len(oversize), "failed": 1, "rows_removed": undone, "error": name}  # fmt: skip


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@correlated(logger, tracer)
@stable_errors
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dead_letter_chunk(event["chunk"], event["run_id"], event.get("error") or {})
