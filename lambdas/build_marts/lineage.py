"""dbt's lineage: openlineage-dbt's artifact processor over the manifest and run results of one ``dbt build``.

``dbt-ol`` wraps a ``dbt`` child process; BuildMarts runs dbt in process (handler.py), so it uses the same
library the wrapper does (``DbtLocalArtifactProcessor``) and emits the same events itself: a START and a
COMPLETE (or FAIL) of the dbt run, and one event per model, seed and test (inputs and outputs as dbt's adapter
names them, ``postgres://host:port`` or ``redshift://host:port`` and ``database.schema.table``; tests as
data-quality assertions). The dbt run's parent is the analytics refresh that started BuildMarts.
dbt writes manifest.json and run_results.json only when lineage is on (handler.invoke_dbt).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from contracts import lineage

logger = logging.getLogger("build-marts.lineage")
DBT_JOB = "dbt_build"


def dbt_run_id(parent_execution: str | None, invocation: str) -> str:
    return lineage.run_id(DBT_JOB, parent_execution or invocation)


def events(
    *,
    project_dir: Path,
    target_path: Path,
    target: str,
    profile_env: Mapping[str, str],
    parent_execution: str | None,
    success: bool,
    started_at: dt.datetime,
) -> list[Any]:
    """The dbt run's events, START first and COMPLETE/FAIL last. ``profile_env``: the profile's variables (host,
    port, database: the datasets' namespace), set while the profile is read; never the password."""
    from openlineage.common.provider.dbt import DbtLocalArtifactProcessor, ParentRunMetadata

    processor = DbtLocalArtifactProcessor(
        producer=lineage.PRODUCER, job_namespace=lineage.namespace(), project_dir=str(project_dir),
        target=target, target_path=str(target_path), logger=logger, openlineage_job_name=DBT_JOB,
    )  # fmt: skip
    parent = lineage.run_id(lineage.REFRESH_JOB, parent_execution) if parent_execution else None
    run = dbt_run_id(parent_execution, started_at.isoformat())
    processor.dbt_run_metadata = ParentRunMetadata(
        run_id=run, job_name=DBT_JOB, job_namespace=lineage.namespace(),
        root_parent_run_id=parent or run, root_parent_job_name=lineage.REFRESH_JOB if parent else DBT_JOB,
        root_parent_job_namespace=lineage.namespace(),
    )  # fmt: skip
    safe = {k: v for k, v in profile_env.items() if not k.endswith("_PASSWORD")}
    saved = {k: os.environ.get(k) for k in safe}
    os.environ.update(safe)
    try:
        nodes = list(processor.parse().events())
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    start = lineage.run_event("START", DBT_JOB, run, parent_run_id=parent, event_time=started_at)
    outcome, error = ("COMPLETE", None) if success else ("FAIL", "DbtBuildFailed")
    end = lineage.run_event(outcome, DBT_JOB, run, parent_run_id=parent, error=error)
    return [start, *nodes, end]


def emit_build(**kwargs: Any) -> int:
    """Emit the dbt run's events (see :func:`events`); lineage never fails the build."""
    if not lineage.enabled():
        return 0
    try:
        found = events(**kwargs)
    except Exception as exc:  # noqa: BLE001 - lineage is best effort: the marts are built
        logger.warning("no dbt lineage (%s)", type(exc).__name__)
        return 0
    return lineage.emit(*found)
