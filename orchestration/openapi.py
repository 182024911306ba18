"""The OpenAPI document of the HTTP surface (orchestration/openapi.json): its generated parts, from the code.

The document's prose (summaries, descriptions, responses) is written by hand in the file; what the code
defines is generated into it by :func:`build` (``python -m orchestration.openapi``, ``make schema``), and
a unit test fails when the committed file differs from ``build`` of itself:

* the transaction request body: the contract's JSON Schema (``contracts.schema``), every model under
  ``components.schemas`` with its rules (patterns, lengths, enums, minor units, card_last4 by method);
* the field error of every 400 (``FieldError``: field, rule, reason) with the rule codes of
  ``contracts.acceptance``;
* ``POST /events`` (lambdas/put_events): its request (1 to ``MAX_RECORDS`` transactions), its answer per
  record and its statuses;
* the analytics parameters, per operation (``lambdas.analytics_api.models.OPERATIONS``): ``GET /analytics``
  takes one form-exploded query object, ``POST /analytics/jobs`` one JSON object, each a ``oneOf`` with a
  branch per operation listing exactly that operation's parameters. Values are documented in the one
  spelling that is always exact (a decimal as text with at most its places, not a binary float); rules
  between parameters are in the branch's description and ``x-rules``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts.acceptance import API_RULES, HTTP_RULES, RULES
from contracts.schema import json_schema
from lambdas.analytics_api.models import OPERATIONS, Params
from lambdas.put_events.records import MAX_RECORDS

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")


def _refs_to_components(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else _refs_to_components(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_refs_to_components(v) for v in node]
    return node


def contract_schemas() -> dict[str, Any]:
    """The transaction and its parts as OpenAPI components (``#/$defs/`` -> ``#/components/schemas/``)."""
    schema = json_schema()
    defs = schema.pop("$defs")
    for key in ("$id", "$schema"):
        schema.pop(key, None)
    out = {name: _refs_to_components(part) for name, part in defs.items()}
    out["Transaction"] = _refs_to_components(schema)
    return out


def field_error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["field", "rule", "reason"],
        "properties": {
            "field": {"type": "string", "description": "The field, a dotted wire path; $ for the whole record."},
            "rule": {
                "type": "string",
                "enum": [r.code for r in (*RULES, *API_RULES, *HTTP_RULES)],
                "description": "The acceptance rule broken (docs/acceptance-rules.md).",
            },
            "reason": {"type": "string", "description": "The rule as a sentence; never the value."},
        },
    }


#: Rules between parameters, per operation (the models' validators), as the documents state them.
CROSS_RULES: dict[str, list[str]] = {
    "player_analysis": ["dolphin_threshold < whale_threshold"],
    "revenue_analysis": ["start_date <= end_date"],
    "realtime_revenue": [
        "from_hour and to_hour are calendar hours",
        "from_hour <= to_hour, at most 744 hours apart",
        "from_day and to_day only with item_id",
        "from_day (default: from_hour's day) <= to_day (default: to_hour's day), at most 366 days apart",
    ],
}
_NUMBER = "(?:0|[1-9][0-9]{0,11})"


def _decimal_text(metadata: list[Any]) -> dict[str, Any]:
    """A Decimal parameter (ge/gt 0, le 10**12, decimal_places 4) as its exact text."""
    places = next((m.decimal_places for m in metadata if getattr(m, "decimal_places", None)), 4)
    positive = any(getattr(m, "gt", None) is not None for m in metadata)
    fraction = f"(?:\\.[0-9]{{1,{places}}})?"
    top = f"1000000000000(?:\\.0{{1,{places}}})?"
    if positive:  # above zero: a whole part from 1, or 0.<digits> ending in a non-zero digit
        pattern = f"^(?:[1-9][0-9]{{0,11}}{fraction}|0\\.[0-9]{{0,{places - 1}}}[1-9]|{top})$"
    else:
        pattern = f"^(?:{_NUMBER}{fraction}|{top})$"
    return {"type": "string", "pattern": pattern}


def _parameter(model: type[Params], name: str, schema: dict[str, Any], wire: str) -> dict[str, Any]:
    schema = {k: v for k, v in schema.items() if k != "title"}
    branches = schema.get("anyOf", [])
    if any(b.get("type") == "number" for b in branches):  # a Decimal
        text = _decimal_text(model.model_fields[name].metadata)
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        if wire == "query":
            return {**text, **rest}
        number = next(b for b in branches if b.get("type") == "number")
        whole = {"type": "integer", "minimum": 1 if "exclusiveMinimum" in number else 0, "maximum": 10**12}
        return {"anyOf": [whole, text], **rest}
    if wire == "query" and any(b.get("type") == "null" for b in branches):  # a query value is never null
        [value] = [b for b in branches if b.get("type") != "null"]
        return {**value, **{k: v for k, v in schema.items() if k not in ("anyOf", "default")}}
    return schema


def operation_schemas(wire: str) -> list[dict[str, Any]]:
    """One object schema per operation: ``operation`` and exactly its parameters (``query``: as query text;
    ``json``: the ``parameters`` of a job request)."""
    out = []
    for name, model in OPERATIONS.items():
        model_schema = model.model_json_schema()
        props = model_schema["properties"]
        required = list(model_schema.get("required", []))
        params = {field: _parameter(model, field, schema, wire) for field, schema in props.items()}
        rules = CROSS_RULES.get(name, [])
        description = f"{name}: {model.__doc__.strip() if model.__doc__ else ''}".rstrip(": ")
        if rules:
            description += ". Rules between parameters: " + "; ".join(rules)
        if wire == "query":
            branch: dict[str, Any] = {
                "type": "object",
                "required": ["operation", *required],
                "additionalProperties": False,
                "properties": {"operation": {"type": "string", "const": name}, **params},
            }
        else:
            branch = {
                "type": "object",
                "required": ["operation", "parameters"] if required else ["operation"],
                "additionalProperties": False,
                "properties": {
                    "operation": {"type": "string", "const": name},
                    "parameters": {"type": "object", "additionalProperties": False, "properties": params},
                },
            }
            if required:
                branch["properties"]["parameters"]["required"] = required
        branch["description"] = description
        if rules:
            branch["x-rules"] = rules
        out.append(branch)
    return out


def analytics_query_parameter() -> dict[str, Any]:
    return {
        "name": "query",
        "in": "query",
        "required": True,
        "style": "form",
        "explode": True,
        "description": "The operation and its parameters, as query parameters (operation=...&name=value). Each"
        " operation takes exactly its own parameters, each at most once; a parameter named sql or query, or SQL"
        " text in a value, is refused (SqlNotAllowed).",
        "schema": {"oneOf": operation_schemas("query")},
    }


def _json(schema_ref: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": schema_ref}}}}


def events_schemas() -> dict[str, Any]:
    """The request and the answer of ``POST /events``."""
    result = {
        "type": "object",
        "required": ["index", "status"],
        "properties": {
            "index": {"type": "integer", "minimum": 0, "description": "The record's place in records."},
            "status": {"type": "string", "enum": ["accepted", "refused", "failed"],
                       "description": "accepted: in the stream; refused: not sent, a rule broken (rule, reason);"
                       " failed: PutRecords did not take it now (error), send it again."},
            "shardId": {"type": "string"},
            "sequenceNumber": {"type": "string"},
            "rule": {"type": "string", "enum": ["body.too_large", "json.not_object"]},
            "reason": {"type": "string", "description": "The rule or the failure as a sentence; never a value."},
            "error": {"type": "string", "description": "PutRecords' ErrorCode (ProvisionedThroughputExceededException,"
                      " InternalFailure, KMS...)."},
        },
    }  # fmt: skip
    counts = {k: {"type": "integer", "minimum": 0} for k in ("accepted", "refused", "failed")}
    return {
        "EventsRequest": {
            "type": "object",
            "required": ["records"],
            "properties": {
                "records": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_RECORDS,
                    "items": {"$ref": "#/components/schemas/Transaction"},
                    "description": f"1 to {MAX_RECORDS} transactions, each at most 8 KiB; each goes into the stream"
                    " as sent (partition key its transactionId) and is validated by the stream's handler.",
                },
            },
        },
        "EventResult": result,
        "EventsAnswer": {
            "type": "object",
            "required": ["accepted", "refused", "failed", "records"],
            "properties": {
                **counts,
                "records": {"type": "array", "items": {"$ref": "#/components/schemas/EventResult"}},
            },
        },
    }


def events_path() -> dict[str, Any]:
    """``POST /events``: the stream entrance through the API (docs/stream-ingest.md)."""
    error = "#/components/schemas/Error"
    return {
        "post": {
            "operationId": "putEvents",
            "summary": f"Put up to {MAX_RECORDS} transactions into the Kinesis stream (PutRecords).",
            "description": "The streaming entrance for high rates: the records are stored in batches by the"
            " stream's handler, exactly once per transactionId; a record that fails the contract is"
            " dead-lettered there with its reason (docs/stream-ingest.md). Send the failed records again.",
            "security": [{"sigv4": []}, {"producerApiKey": []}],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EventsRequest"}}},
            },
            "responses": {
                "200": _json("#/components/schemas/EventsAnswer", "One result per record, by index."),
                "400": _json(error, "Not {\"records\": [...]} with 1 to 500 records: InvalidRequest or"
                             " TooManyRecords, with the rule (events.records, events.too_many_records, json.*)."),
                "401": {"$ref": "#/components/responses/Unauthorized"},
                "403": {"$ref": "#/components/responses/Forbidden"},
                "411": {"$ref": "#/components/responses/LengthRequired"},
                "413": _json(error, "Body over 10 MiB (API Gateway's payload limit)."),
                "503": _json(error, "The stream took none of the records: send the request again."),
            },
        }
    }  # fmt: skip


OPERATION_RESULT = (
    "The operation's rows, plus summaries (warehouse_info: schemas, freshness; data_integrity_analysis: checks,"
    " accounted (stored, dead-lettered with a reason), unaccounted (rows missing or surplus downstream), status (ok"
    " when nothing is unaccounted), quality_score, ratios; revenue_analysis: currency, period;"
    " multi_dimensional_analytics: timeframe, since; realtime_revenue: game, totals, and with item_id: item (item_id,"
    " rows by day, totals))."
)


def build(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with its generated parts made anew from the code."""
    doc = json.loads(json.dumps(document))
    schemas = doc["components"]["schemas"]
    schemas.update(contract_schemas())
    schemas["FieldError"] = field_error_schema()
    doc["paths"]["/analytics"]["get"]["parameters"] = [analytics_query_parameter()]
    schemas.update(events_schemas())
    paths = doc["paths"]
    paths["/events"] = events_path()
    doc["paths"] = {"/transactions": paths.pop("/transactions"), "/events": paths.pop("/events"), **paths}
    for name in ("AnalyticsResponse", "JobAccepted", "Job"):  # the operation a response names: one of the named
        schemas[name]["properties"]["operation"] = {"enum": list(OPERATIONS)}
    schemas["OperationResult"]["description"] = OPERATION_RESULT
    schemas["JobRequest"] = {
        "description": "A job: one named operation and its parameters (as for GET /analytics, typed as JSON).",
        "oneOf": operation_schemas("json"),
    }
    return dict(doc)


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def main() -> None:
    current = json.loads(DOCUMENT_PATH.read_text())
    DOCUMENT_PATH.write_text(render(build(current)))
    print(f"wrote {DOCUMENT_PATH}")


if __name__ == "__main__":
    main()
