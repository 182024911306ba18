"""PII tags, read from the contract, and the one function that strips PII for analytics.

Policy (ARCHITECTURE.md): ``payment_details.card_last4`` and ``client_ip`` never
leave the compliance store. ``user_id`` is a game account id and is kept.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from contracts.timestamps import utc_iso
from contracts.transaction import Transaction


def _walk(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], str]:
    tags: dict[tuple[str, ...], str] = {}
    for name, field in model.model_fields.items():
        key = (*prefix, field.alias or name)
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if "x-pii" in extra:
            tags[key] = str(extra["x-pii"])
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            tags.update(_walk(annotation, key))
    return tags


#: Wire path (tuple of JSON keys) -> PII kind, e.g. ("client_ip",) -> "ip".
PII_FIELDS: dict[tuple[str, ...], str] = _walk(Transaction)


def strip_pii(record: dict[str, Any], *, in_place: bool = False) -> dict[str, Any]:
    """A wire-form transaction with every PII-tagged field removed (a copy unless ``in_place``)."""
    out = record if in_place else _deep_copy(record)
    for path in PII_FIELDS:
        node: Any = out
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return out


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def analytics_record(
    wire: dict[str, Any], ingested_at: dt.datetime, enrichment: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The analytics copy of a validated transaction in its wire form (``Transaction.to_json_dict()``, as
    ValidateTransaction outputs it): PII-free, plus ingestion metadata and the Enrich stage's fields
    (``contracts.warehouse.ENRICHED``: country and region, never the IP). ``wire`` is left as it is."""
    record = strip_pii(wire)
    record["ingested_at"] = utc_iso(ingested_at)
    if enrichment:
        record.update(enrichment)
    return record


def to_analytics_record(tx: Transaction, ingested_at: dt.datetime) -> dict[str, Any]:
    """The analytics copy written to S3 and DynamoDB: PII-free, plus ingestion metadata."""
    record = strip_pii(tx.to_json_dict(), in_place=True)  # a fresh dict: nobody else holds it
    record["ingested_at"] = utc_iso(ingested_at)
    return record
