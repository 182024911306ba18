"""The one typed settings reader of the deployed code: environment variables in, a frozen object out.

Terraform sets these variables on every Lambda (and as Glue job arguments); the
local runtime sets the same ones (``orchestration/settings.py`` re-exports this
module for the local tooling). No other deployed module reads its settings from ``os.environ``.
This module knows nothing of where it runs: it ships in the Lambda zip, the
analytics image and the Glue job's libs, at the same place under the package root.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

#: The folder that holds ``contracts/``, ``lambdas/``...: a checkout's root, the Lambda task root
#: (``/var/task``) in the zip and the analytics image. Relative paths of the settings resolve against it.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _glue_name(prefix: str) -> str:
    return prefix.replace("-", "_")


@dataclass(frozen=True)
class Settings:
    name_prefix: str = "mtx-local"
    region: str = "us-east-1"
    account_id: str = "123456789012"

    raw_bucket: str = ""
    analytics_bucket: str = ""
    curated_bucket: str = ""
    glue_scripts_bucket: str = ""
    query_results_bucket: str = ""

    item_catalogue_table: str = ""
    analytics_table: str = ""
    execution_status_table: str = ""
    batch_runs_table: str = ""
    analytics_cache_table: str = ""
    analytics_jobs_table: str = ""
    #: The ledger of executions whose input was dead-lettered by the last-resort net or the sweeper
    #: (one item per execution ARN: what makes each of them dead-letter an execution once).
    execution_dead_letters_table: str = ""
    #: One item per player: the first transaction the pipeline enriched for it (lambdas/common/enrich/players.py).
    players_table: str = ""
    #: The real-time revenue rollups (game x hour, item x day) and their exactly-once markers
    #: (lambdas/common/realtime.py; docs/lifecycle.md, "Real-time aggregates").
    realtime_aggregates_table: str = ""
    #: The daily FX table the Enrich stage converts to USD with (lambdas/common/enrich/fx.py): bucket (empty:
    #: the raw bucket) and key; the scheduled refresh_fx_rates function writes it from fx_rates_source_url
    #: (empty: no source configured, the last table is kept and its age is published as a metric).
    fx_rates_bucket: str = ""
    fx_rates_key: str = "reference/fx/daily.json"
    fx_rates_source_url: str = ""
    #: The producing application stamped on records whose entrance does not identify one (files, stream).
    default_application_id: str = "unattributed"

    dead_letter_queue_name: str = ""
    alerts_topic_name: str = ""

    # One Secrets Manager secret per database role (lambdas/migrate_databases/roles.py); each function
    # reads only the one it needs (Terraform modules/lambda IAM). The admin (master) secrets are read
    # by the deploy-time migration step alone.
    compliance_admin_secret_id: str = ""
    compliance_migrator_secret_id: str = ""
    compliance_writer_secret_id: str = ""
    compliance_reader_secret_id: str = ""
    warehouse_admin_secret_id: str = ""
    warehouse_transformer_secret_id: str = ""
    warehouse_reader_secret_id: str = ""

    glue_database: str = ""

    #: Folder the functions write scratch files under (dbt's target/ and logs/, Data Docs): Terraform sets
    #: /tmp/mtx in AWS; unset, ``.local/`` under the package root (a checkout's git-ignored state folder).
    home: Path = field(default_factory=lambda: PACKAGE_ROOT / ".local")
    #: Multiplier for Step Functions Retry/Wait sleeps in the local interpreter (0 in tests). No deployed code
    #: reads it; it stays here while Terraform sets MTX_SFN_TIME_SCALE on every function (issue 22).
    sfn_time_scale: float = 1.0
    log_level: str = "INFO"
    #: dbt target the BuildMarts step uses: "local" (PostgreSQL) or "redshift".
    dbt_target: str = "local"
    #: Origins a browser may call the analytics API from, comma-separated; empty: no cross-origin access.
    cors_allowed_origins: str = ""
    #: How many hours after its receipt an event may be stamped (contracts/acceptance.py); empty: 24.
    max_future_skew_hours: str = ""
    #: libpq sslmode of every database connection the functions open; empty: libpq's default (prefer).
    #: Terraform sets verify-full in AWS (envs/*/variables.tf db_sslmode).
    db_sslmode: str = ""
    #: CA bundle that verify-ca / verify-full check the server's certificate against: absolute, or relative
    #: to the package root (in AWS lambdas/common/certs/aws-rds-ca-bundle.pem, shipped in the package).
    db_sslrootcert: str = ""
    #: Minutes a transaction or batch run may stay PENDING before the sweeper reconciles it; empty: 15.
    sweep_pending_after_minutes: str = ""
    #: Failed redrives after which a dead letter is parked (archive/parked/ of the raw bucket), not redriven again.
    dlq_max_redrives: int = 3
    #: Age (days) at which the scheduled archive moves a dead letter to archive/dead-letters/ (SQS keeps 14).
    dlq_archive_after_days: float = 10.0
    #: The alias executions are started through (Terraform: "live", routing to the published version a
    #: rollback pins); empty: the state machine itself (where no alias exists).
    state_machine_alias: str = ""

    def db_ssl_options(self) -> dict[str, Any]:
        """The libpq connection options of db_sslmode / db_sslrootcert (none when unset), as keyword
        arguments of psycopg.connect (typed Any: they join its typed keyword parameters)."""
        options: dict[str, Any] = {}
        if self.db_sslmode:
            options["sslmode"] = self.db_sslmode
        if self.db_sslrootcert:
            options["sslrootcert"] = str(PACKAGE_ROOT / self.db_sslrootcert)  # an absolute path stays as it is
        return options

    @property
    def sweep_pending_after_seconds(self) -> float:
        return 60.0 * float(self.sweep_pending_after_minutes or 15)

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(o.strip() for o in self.cors_allowed_origins.split(",") if o.strip())

    def __post_init__(self) -> None:
        p = self.name_prefix
        defaults = {
            "raw_bucket": f"{p}-raw",
            "analytics_bucket": f"{p}-analytics",
            "curated_bucket": f"{p}-curated",
            "glue_scripts_bucket": f"{p}-glue-scripts",
            "query_results_bucket": f"{p}-query-results",
            "item_catalogue_table": f"{p}-item-catalogue",
            "analytics_table": f"{p}-analytics-transactions",
            "execution_status_table": f"{p}-execution-status",
            "batch_runs_table": f"{p}-batch-runs",
            "analytics_cache_table": f"{p}-analytics-cache",
            "analytics_jobs_table": f"{p}-analytics-jobs",
            "execution_dead_letters_table": f"{p}-execution-dead-letters",
            "players_table": f"{p}-players",
            "realtime_aggregates_table": f"{p}-realtime-aggregates",
            "dead_letter_queue_name": f"{p}-dead-letter.fifo",
            "alerts_topic_name": f"{p}-alerts",
            "compliance_admin_secret_id": f"{p}/compliance-db",
            "compliance_migrator_secret_id": f"{p}/compliance-migrator",
            "compliance_writer_secret_id": f"{p}/compliance-writer",
            "compliance_reader_secret_id": f"{p}/compliance-reader",
            "warehouse_admin_secret_id": f"{p}/warehouse-db",
            "warehouse_transformer_secret_id": f"{p}/warehouse-transformer",
            "warehouse_reader_secret_id": f"{p}/warehouse-reader",
            "glue_database": _glue_name(p),
        }
        for name, value in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)
        if not self.fx_rates_bucket:
            object.__setattr__(self, "fx_rates_bucket", self.raw_bucket)

    # Derived identifiers -------------------------------------------------
    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"

    @property
    def alerts_topic_arn(self) -> str:
        return self.arn("sns", self.alerts_topic_name)

    @property
    def dead_letter_queue_arn(self) -> str:
        return self.arn("sqs", self.dead_letter_queue_name)

    def function_name(self, short: str) -> str:
        return f"{self.name_prefix}-{short.replace('_', '-')}"

    def function_arn(self, short: str) -> str:
        return self.arn("lambda", f"function:{self.function_name(short)}")

    @property
    def transaction_stream_name(self) -> str:
        """The Kinesis stream of the streaming entrance (infra/terraform/modules/stream names it so)."""
        return f"{self.name_prefix}-transaction-stream"

    def state_machine_name(self, workflow: str) -> str:
        return f"{self.name_prefix}-{workflow.replace('_', '-')}"

    def state_machine_arn(self, workflow: str) -> str:
        return self.arn("states", f"stateMachine:{self.state_machine_name(workflow)}")

    def state_machine_start_arn(self, workflow: str) -> str:
        """What to start an execution of ``workflow`` on: its alias when there is one."""
        arn = self.state_machine_arn(workflow)
        return f"{arn}:{self.state_machine_alias}" if self.state_machine_alias else arn

    def to_env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings (Terraform sets the same)."""
        env: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            env[f"MTX_{f.name.upper()}"] = str(value)
        env["AWS_REGION"] = self.region
        return env


_CASTS = {"sfn_time_scale": float, "home": Path, "dlq_max_redrives": int, "dlq_archive_after_days": float}


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    kwargs: dict[str, object] = {}
    for f in fields(Settings):
        raw = env.get(f"MTX_{f.name.upper()}")
        if raw is None or raw == "":
            continue
        kwargs[f.name] = _CASTS.get(f.name, str)(raw)
    region = env.get("MTX_REGION") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        kwargs["region"] = region
    return Settings(**kwargs)  # type: ignore[arg-type]


@cache
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return from_env()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
