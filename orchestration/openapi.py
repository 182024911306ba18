"""The OpenAPI document of the HTTP surface (orchestration/openapi.json): its generated parts, from the code.

The document's prose (summaries, descriptions, responses) is written by hand in the file; what the code
defines is generated into it by :func:`build` (``python -m orchestration.openapi``, ``make schema``), and
a unit test fails when the committed file differs from ``build`` of itself:

* the transaction request body: the contract's JSON Schema (``contracts.schema``), every model under
  ``components.schemas`` with its rules (patterns, lengths, enums, minor units, card_last4 by method);
* the field error of every 400 (``FieldError``: field, rule, reason) with the rule codes of
  ``contracts.acceptance``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts.acceptance import RULES
from contracts.schema import json_schema

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
                "enum": [r.code for r in RULES],
                "description": "The acceptance rule broken (docs/acceptance-rules.md).",
            },
            "reason": {"type": "string", "description": "The rule as a sentence; never the value."},
        },
    }


def build(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with its generated parts made anew from the code."""
    doc = json.loads(json.dumps(document))
    schemas = doc["components"]["schemas"]
    schemas.update(contract_schemas())
    schemas["FieldError"] = field_error_schema()
    return dict(doc)


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def main() -> None:
    current = json.loads(DOCUMENT_PATH.read_text())
    DOCUMENT_PATH.write_text(render(build(current)))
    print(f"wrote {DOCUMENT_PATH}")


if __name__ == "__main__":
    main()
