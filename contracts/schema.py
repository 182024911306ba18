"""Export the committed JSON Schema and docs/acceptance-rules.md: ``python -m contracts.schema`` (``make schema``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts.acceptance import DOC_PATH, render_markdown
from contracts.transaction import CONTRACT_VERSION, Transaction

SCHEMA_PATH = Path(__file__).with_name("transaction.schema.json")


def json_schema() -> dict[str, Any]:
    schema = Transaction.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://mtx-pipeline/contracts/transaction/{CONTRACT_VERSION}"
    schema["x-contract-version"] = CONTRACT_VERSION
    return schema


def render() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    SCHEMA_PATH.write_text(render())
    print(f"wrote {SCHEMA_PATH}")
    DOC_PATH.write_text(render_markdown())
    print(f"wrote {DOC_PATH}")


if __name__ == "__main__":
    main()
