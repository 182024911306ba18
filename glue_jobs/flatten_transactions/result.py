"""What one run of the flatten job did: the record the job writes to its runs table and prints."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from glue_jobs.flatten_transactions.schema import SchemaDrift


@dataclass
class JobResult:
    job_name: str
    run_id: str
    started_at: dt.datetime
    status: str = "running"
    finished_at: dt.datetime | None = None
    partitions: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_rejected: int = 0
    #: Rows after rejects and de-duplication: what the curated zone holds for these partitions.
    rows_curated: int = 0
    #: Rows the merge inserted (including ones that replaced an older version).
    rows_loaded: int = 0
    rows_replaced: int = 0
    curated_objects: list[str] = field(default_factory=list)
    rejects_location: str | None = None
    drift: SchemaDrift = field(default_factory=SchemaDrift)
    error: str | None = None
