"""Every AWS resource the pipeline uses, named as Terraform names them: the data of the manifest.

The Lambda functions come from ``infra/functions.json``, the one list Terraform's
lambda module reads too; the rest (buckets, tables, queues, topics, secrets, state
machines, Glue database) is built from the settings. The provisioning code that
creates these against the local moto server is in ``orchestration/runtime/manifest.py``;
reading their key settings back from a running stack in ``orchestration/runtime/key_settings.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.runtime import sfn
from orchestration.settings import REPO_ROOT, Settings

#: The list of Lambda functions both Terraform (infra/terraform/modules/lambda) and the local runtime read.
FUNCTIONS_FILE = REPO_ROOT / "infra" / "functions.json"


@dataclass(frozen=True)
class Function:
    """One entry of infra/functions.json (its fields are described in the file's "about")."""

    short: str
    handler: str  # "module.function", as Lambda's handler setting
    memory: int
    timeout: int
    reserved_concurrency: int | None = None
    image: bool = False
    invoked_async: bool = False
    schedule: str | None = None
    master_login: bool = False


def load_functions(path: Path = FUNCTIONS_FILE) -> dict[str, Function]:
    """The functions of the list, by short name, in the file's order."""
    entries = json.loads(path.read_text())["functions"]
    return {
        short: Function(
            short=short,
            handler=entry["handler"],
            memory=entry["memory"],
            timeout=entry["timeout"],
            reserved_concurrency=entry.get("reserved_concurrency"),
            image=entry.get("image", False),
            invoked_async=entry.get("async", False),
            schedule=entry.get("schedule"),
            master_login=entry.get("master_login", False),
        )
        for short, entry in entries.items()
    }


FUNCTIONS: dict[str, Function] = load_functions()

#: Lambda functions: short name -> handler path ("module.function"), as Terraform packages them.
LAMBDAS: dict[str, str] = {short: f.handler for short, f in FUNCTIONS.items()}

#: Functions started on a schedule by an EventBridge rule named as the function
#: (infra/terraform/modules/lambda creates the same rules): short name -> schedule expression.
SCHEDULED: dict[str, str] = {short: f.schedule for short, f in FUNCTIONS.items() if f.schedule}

#: Workflow (ASL file stem) -> Step Functions type.
WORKFLOWS: dict[str, str] = {
    "transaction": "EXPRESS",
    "batch_ingest": "STANDARD",
    "analytics_refresh": "STANDARD",
    "analytics_job": "STANDARD",
}


@dataclass(frozen=True)
class Table:
    name: str
    hash_key: str
    ttl_attribute: str | None = None
    range_key: str | None = None


@dataclass(frozen=True)
class StateMachine:
    workflow: str  # file stem: orchestration/state_machines/<workflow>.asl.json
    type: str  # EXPRESS | STANDARD


@dataclass(frozen=True)
class Manifest:
    settings: Settings
    buckets: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    queues: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    state_machines: tuple[StateMachine, ...] = ()
    glue_databases: tuple[str, ...] = ()
    lambdas: dict[str, str] = field(default_factory=dict)

    def placeholders(self, queue_urls: dict[str, str]) -> dict[str, str]:
        """The values Terraform's templatefile() passes to every ASL file."""
        s = self.settings
        values = {f"{short}_function_arn": s.function_arn(short) for short in self.lambdas}
        values.update(
            {
                "execution_status_table": s.execution_status_table,
                "item_catalogue_table": s.item_catalogue_table,
                "analytics_table": s.analytics_table,
                "batch_runs_table": s.batch_runs_table,
                "analytics_jobs_table": s.analytics_jobs_table,
                "dead_letter_queue_url": queue_urls[s.dead_letter_queue_name],
                "alerts_topic_arn": s.alerts_topic_arn,
                "raw_bucket": s.raw_bucket,
                "analytics_bucket": s.analytics_bucket,
                "curated_bucket": s.curated_bucket,
                "query_results_bucket": s.query_results_bucket,
                "glue_database": s.glue_database,
                "glue_crawler_name": glue_crawler_name(s),
                "glue_job_name": glue_job_name(s),
            }
        )
        return values


def build(settings: Settings) -> Manifest:
    s = settings
    return Manifest(
        settings=s,
        buckets=(s.raw_bucket, s.analytics_bucket, s.curated_bucket, s.glue_scripts_bucket, s.query_results_bucket),
        tables=(
            Table(s.item_catalogue_table, "item_id"),
            Table(s.analytics_table, "transaction_id"),
            Table(s.execution_status_table, "transaction_id"),
            Table(s.batch_runs_table, "run_id"),
            Table(s.analytics_cache_table, "cache_key", ttl_attribute="expires_at"),
            Table(s.analytics_jobs_table, "job_id", ttl_attribute="expires_at"),
            Table(s.execution_dead_letters_table, "execution_arn"),
            Table(s.players_table, "player_id"),
            Table(s.realtime_aggregates_table, "pk", ttl_attribute="expires_at", range_key="sk"),
        ),
        queues=(s.dead_letter_queue_name,),
        topics=(s.alerts_topic_name,),
        secrets=(
            s.compliance_admin_secret_id,
            s.compliance_migrator_secret_id,
            s.compliance_writer_secret_id,
            s.compliance_reader_secret_id,
            s.warehouse_admin_secret_id,
            s.warehouse_transformer_secret_id,
            s.warehouse_reader_secret_id,
        ),
        state_machines=tuple(
            StateMachine(workflow, kind)
            for workflow, kind in WORKFLOWS.items()
            if (sfn.STATE_MACHINES_DIR / f"{workflow}.asl.json").exists()
        ),
        glue_databases=(s.glue_database,),
        lambdas=dict(LAMBDAS),
    )


# --- names and patterns, as Terraform gives them ------------------------------------------------------


#: Local queue subscribed to the alert topic so alerts can be read back (an email inbox stand-in).
def alerts_inbox_name(settings: Settings) -> str:
    return f"{settings.alerts_topic_name}-inbox"


def schedule_rule_name(settings: Settings, short: str) -> str:
    """The EventBridge rule that starts a scheduled function, as Terraform names it (the function's name)."""
    return settings.function_name(short)


def incoming_rule_name(settings: Settings) -> str:
    return f"{settings.name_prefix}-raw-incoming"


def incoming_event_pattern(settings: Settings) -> dict[str, Any]:
    """The EventBridge pattern for files dropped under incoming/ of the raw bucket (Terraform uses the same)."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [settings.raw_bucket]}, "object": {"key": [{"prefix": "incoming/"}]}},
    }


#: How often the PENDING sweeper runs (the EventBridge rule's ScheduleExpression; Terraform's default).
SWEEP_PENDING_SCHEDULE = "rate(5 minutes)"


def sweep_pending_rule_name(settings: Settings) -> str:
    return f"{settings.name_prefix}-sweep-pending"


def failed_executions_rule_name(settings: Settings) -> str:
    return f"{settings.name_prefix}-failed-executions"


def failed_executions_pattern(state_machine_arns: list[str]) -> dict[str, Any]:
    """The last-resort net's EventBridge pattern (Terraform uses the same): the Standard workflows'
    executions that ended FAILED, TIMED_OUT or ABORTED (Express workflows emit no status events)."""
    return {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"], "stateMachineArn": sorted(state_machine_arns)},
    }


def stream_name(settings: Settings) -> str:
    """The Kinesis stream of the streaming entrance (infra/terraform/modules/stream names it so)."""
    return settings.transaction_stream_name


def stream_failures_queue_name(settings: Settings) -> str:
    """The event source mapping's on-failure destination: where the batches given up on are described."""
    return f"{settings.name_prefix}-transaction-stream-failures"


#: The stream's retention (hours), as Terraform's default: what a batch has to be retried within.
STREAM_RETENTION_HOURS = 24


#: Local only: moto's EventBridge cannot target Step Functions, so the rule targets this queue and
#: the local runtime starts the batch workflow from it (in AWS the rule targets the state machine).
def trigger_queue_name(settings: Settings) -> str:
    return f"{settings.name_prefix}-batch-trigger"


def data_key_alias(settings: Settings) -> str:
    """The customer-managed key's alias, as infra/terraform/modules/kms names it."""
    return f"alias/{settings.name_prefix}-data"


def glue_crawler_name(s: Settings) -> str:
    """The crawler as infra/terraform/modules/glue names it: <prefix>-<name_suffix of its definition file>."""
    from orchestration.runtime.glue_crawler import load_definition

    return load_definition().crawler_name(s.name_prefix)


def glue_job_name(s: Settings) -> str:
    """The flatten job as infra/terraform/modules/glue names it."""
    from orchestration.runtime.glue import JOB_SUFFIX

    return f"{s.name_prefix}-{JOB_SUFFIX}"
