"""The flatten job's arguments: names, checks, the typed form every step reads."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

REQUIRED_ARGS = ("JOB_NAME", "database", "table", "curated_bucket")
OPTIONAL_ARGS = (
    "warehouse_secret_id",
    "warehouse_dsn",
    "from_date",
    "to_date",
    "backfill",
    "redshift_copy_role_arn",
    "JOB_RUN_ID",
    "openlineage_url",
    "parent_run_id",
    "crawler_name",
)


class JobArgumentError(ValueError):
    """The job's arguments are inconsistent."""


@dataclass(frozen=True)
class JobArgs:
    job_name: str
    database: str
    table: str
    curated_bucket: str
    warehouse_secret_id: str = ""
    #: Local only (a DSN in job arguments would be visible in the Glue console).
    warehouse_dsn: str = ""
    from_date: dt.date | None = None
    to_date: dt.date | None = None
    backfill: bool = False
    run_id: str = ""
    redshift_copy_role_arn: str = ""
    #: OpenLineage HTTP endpoint (Terraform var.openlineage_url); empty: the standard environment's, or none.
    openlineage_url: str = ""
    #: The analytics refresh's execution ARN: the parent run of the job's (and the crawl's) lineage events.
    parent_run_id: str = ""
    #: The crawler the refresh ran before the job (its lineage is reported by the job, see lineage.py).
    crawler_name: str = ""

    def __post_init__(self) -> None:
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise JobArgumentError(f"--from_date {self.from_date} is after --to_date {self.to_date}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> JobArgs:
        def day(name: str) -> dt.date | None:
            raw = str(options.get(name) or "").strip()
            try:
                return dt.date.fromisoformat(raw) if raw else None
            except ValueError:
                raise JobArgumentError(f"--{name} must be YYYY-MM-DD, got {raw!r}") from None

        backfill = str(options.get("backfill") or "false").strip().lower()
        if backfill not in {"true", "false", "1", "0", "yes", "no"}:
            raise JobArgumentError(f"--backfill must be true or false, got {backfill!r}")
        return cls(
            job_name=str(options["JOB_NAME"]),
            database=str(options["database"]),
            table=str(options["table"]),
            curated_bucket=str(options["curated_bucket"]),
            warehouse_secret_id=str(options.get("warehouse_secret_id") or ""),
            warehouse_dsn=str(options.get("warehouse_dsn") or ""),
            from_date=day("from_date"),
            to_date=day("to_date"),
            backfill=backfill in {"true", "1", "yes"},
            run_id=str(options.get("JOB_RUN_ID") or options.get("run_id") or ""),
            redshift_copy_role_arn=str(options.get("redshift_copy_role_arn") or ""),
            openlineage_url=str(options.get("openlineage_url") or ""),
            parent_run_id=str(options.get("parent_run_id") or ""),
            crawler_name=str(options.get("crawler_name") or ""),
        )


def parse_options(argv: Sequence[str]) -> JobArgs:
    """The arguments without ``awsglue`` (the local runtime's runs): argparse with Glue's names.
    Unknown arguments are ignored, as Glue adds arguments of its own."""
    parser = argparse.ArgumentParser(prog="flatten_transactions", description="the flatten job's arguments")
    for name in REQUIRED_ARGS:
        parser.add_argument(f"--{name}", required=True)
    for name in OPTIONAL_ARGS:
        parser.add_argument(f"--{name}", default="")
    namespace, _ = parser.parse_known_args(list(argv[1:]))
    return JobArgs.from_options(vars(namespace))
