"""Checks of OpenLineage events as written (JSON), through the openlineage-python client's own classes."""

from __future__ import annotations

from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState

#: What the OpenLineage spec requires of every facet (its BaseFacet).
FACET_KEYS = {"_producer", "_schemaURL"}


def rebuild(event: dict[str, Any]) -> RunEvent:
    """The event rebuilt with the client's attrs classes: their validators check the run id (a UUID), the event
    time (ISO 8601), the producer and schema URLs, the event type; every facet must carry _producer/_schemaURL."""
    assert {"eventTime", "producer", "schemaURL", "run", "job", "eventType"} <= set(event), sorted(event)
    for holder in [event["run"], event["job"], *event.get("inputs", []), *event.get("outputs", [])]:
        for kind in ("facets", "inputFacets", "outputFacets"):
            for name, facet in (holder.get(kind) or {}).items():
                assert set(facet) >= FACET_KEYS, (name, sorted(facet))
    datasets = {"inputs": InputDataset, "outputs": OutputDataset}
    rebuilt = RunEvent(
        eventType=RunState(event["eventType"]),
        eventTime=event["eventTime"],
        run=Run(runId=event["run"]["runId"]),
        job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"]),
        producer=event["producer"],
        inputs=[datasets["inputs"](namespace=d["namespace"], name=d["name"]) for d in event.get("inputs", [])],
        outputs=[datasets["outputs"](namespace=d["namespace"], name=d["name"]) for d in event.get("outputs", [])],
    )
    assert event["schemaURL"].startswith("https://openlineage.io/spec/"), event["schemaURL"]
    return rebuilt


def strings(value: Any) -> list[str]:
    """Every string (keys aside) anywhere in a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []
