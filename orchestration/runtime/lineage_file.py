"""The local stack's OpenLineage transport: a file, ``<home>/lineage/events.ndjson`` (local runtime only).

The deployed code reads the standard OpenLineage configuration from its environment (contracts/lineage.py); in
AWS Terraform's ``openlineage_url`` sets ``OPENLINEAGE_URL``. Locally the runtime writes an ``openlineage.yml``
with a file transport (append: one event per line) and points ``OPENLINEAGE_CONFIG`` at it, as a user would.
"""

from __future__ import annotations

import json
from pathlib import Path


def events_file(home: Path) -> Path:
    """Where a local stack's lineage events go: ``<home>/lineage/events.ndjson``."""
    return Path(home) / "lineage" / "events.ndjson"


def config_file(home: Path) -> Path:
    return Path(home) / "lineage" / "openlineage.yml"


def install(home: Path) -> dict[str, str]:
    """Write the file transport's configuration; the environment variables that select it."""
    events = events_file(home)
    events.parent.mkdir(parents=True, exist_ok=True)
    # YAML is a superset of JSON: the path quoted as JSON whatever characters it holds
    config = {"transport": {"type": "file", "log_file_path": str(events), "append": True}}
    config_file(home).write_text(json.dumps(config, indent=2) + "\n")
    return env(home)


def env(home: Path) -> dict[str, str]:
    return {"OPENLINEAGE_CONFIG": str(config_file(home))}
