"""The whole local stack: PostgreSQL + moto server + every resource, started and stopped together.

``mtx up`` / ``make run`` / the pytest fixtures all use ``LocalStack``. Its state
(endpoints, DSNs, pid) goes to ``<home>/stack.json`` and ``<home>/stack.env``
(mode 0600) so that other processes (``mtx send``, ``psql``, ``dbt``, the aws CLI)
can find it. The API's two credentials, created at start, are in ``stack.env`` only:
``MTX_PRODUCER_KEY`` (producer ``MTX_PRODUCER_ID``, for ``POST /transactions``) and
``MTX_ANALYST_KEY`` (the analytics routes), each sent in the ``x-api-key`` header.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts import lineage
from orchestration.runtime import auth, emf, lambda_pool, lineage_file, local_workers, sfn, xray
from orchestration.runtime import manifest as manifest_mod
from orchestration.runtime.api import ApiServer
from orchestration.runtime.moto_process import MotoProcess
from orchestration.runtime.moto_server import FAKE_CREDENTIALS, MotoServer
from orchestration.runtime.postgres import SUPERUSER, PostgresServer
from orchestration.runtime.private_file import write_private
from orchestration.runtime.stack_state import pid_alive, read_state, stop_running
from orchestration.runtime.stream_poller import StreamMapping, StreamPoller
from orchestration.runtime.triggers import BatchTrigger, ExecutionStatusEvents, ScheduledRules
from orchestration.settings import Settings, reset_settings_cache

__all__ = ["LocalStack", "StackAlreadyRunning", "pid_alive", "read_state", "stop_running"]


class StackAlreadyRunning(RuntimeError):
    """Another process runs a local stack in the same home."""


@dataclass
class LocalStack:
    home: Path
    name_prefix: str = "mtx-local"
    time_scale: float = 1.0
    #: "python": orchestration/runtime/manifest.py creates the resources (seconds); "terraform": `terraform apply`
    #: of infra/terraform/envs/local does, the same modules as in AWS (minutes; orchestration/runtime/terraform.py).
    provisioner: str = "python"
    settings: Settings | None = None
    #: Lambda worker processes per dispatching process, with moto in a process of its own (lambda_pool.py,
    #: moto_process.py); 0: moto, the interpreter and the handlers in this process. None: MTX_LOCAL_PROCESSES.
    processes: int | None = None
    pg: PostgresServer = field(init=False)
    moto: MotoServer | MotoProcess = field(init=False)
    lambdas: lambda_pool.LambdaPool | None = None
    provisioned: manifest_mod.Provisioned | None = None
    api: ApiServer | None = None
    trigger: BatchTrigger | None = None
    #: EventBridge's scheduled rules and execution status events, played by the runtime (runtime/triggers.py)
    schedules: ScheduledRules | None = None
    status_events: ExecutionStatusEvents | None = None
    #: the Kinesis stream's event source mapping, played by the runtime (orchestration/runtime/stream_poller.py)
    stream_poller: StreamPoller | None = None
    #: The local event source mapping's settings; None: Terraform's defaults or MTX_LOCAL_STREAM_* (StreamMapping).
    stream_mapping: StreamMapping | None = None
    #: Multiplier of the scheduled rules' periods (rate(5 minutes) x 0.01 = every 3 s); None: time_scale,
    #: 0: the rules run only when asked (``schedules.fire(name)``, `mtx sweep`).
    schedule_time_scale: float | None = None
    started_at: float = 0.0
    #: secret id -> value of each login role's secret, read back once provisioned (role_secret_ids)
    role_secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    terraform: Any = None  # the TerraformApply that provisioned this stack, if any
    #: The credentials created at start: the default producer's key and the analyst's key (x-api-key).
    producer_key: str = field(default="", repr=False)
    analyst_key: str = field(default="", repr=False)
    producer_id: str = auth.DEFAULT_PRODUCER
    #: the X-Ray daemon the runtime plays (orchestration/runtime/xray.py), running while the stack is
    xray: xray.Daemon | None = None
    _inprocess_clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.home = Path(self.home).resolve()
        self.pg = PostgresServer(self.home / "pg")
        self.processes = lambda_pool.processes() if self.processes is None else self.processes
        self.moto = (MotoProcess if self.processes else MotoServer)(time_scale=self.time_scale)

    # ------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.home / "stack.json"

    @property
    def env_file(self) -> Path:
        return self.home / "stack.env"

    @property
    def metrics_file(self) -> Path:
        """The EMF metric lines the handlers printed (orchestration/runtime/emf.py), as CloudWatch keeps them."""
        return emf.stack_file(self.home)

    @property
    def segments_file(self) -> Path:
        """The trace segments the handlers sent to the local X-Ray daemon (orchestration/runtime/xray.py)."""
        return xray.segments_file(self.home)

    def client(self, service: str) -> Any:
        from lambdas.common.aws import client

        return client(service, self.require_settings())

    def inprocess_client(self, service: str) -> Any:
        """A client of the local AWS for the emulator's own calls: the API stand-in's integrations (in AWS, API
        Gateway starts the workflow and sends dead letters inside AWS) and the benchmarks' driver. Served by the
        moto server's application in this process, through its fault layer, when moto runs here
        (moto_inprocess.py); over HTTP when moto runs in a process of its own. The product's code (the handlers,
        `mtx`) keeps its own clients, over HTTP."""
        found = self._inprocess_clients.get(service)
        if found is None:
            import boto3
            from botocore.config import Config

            from orchestration.runtime import moto_inprocess

            config = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=50)
            session: Any = boto3.session.Session()
            found = session.client(service, region_name=self.require_settings().region,
                                   endpoint_url=self.moto.endpoint_url, config=config)  # fmt: skip
            found.meta.events.register("before-send", moto_inprocess.dispatch)
            found = self._inprocess_clients.setdefault(service, found)
        return found

    def require_settings(self) -> Settings:
        if self.settings is None:
            raise RuntimeError("the local stack is not started")
        return self.settings

    def role_secret_ids(self) -> dict[str, tuple[str, str]]:
        """secret id -> (database, login role): the secrets runtime code and the migration step read."""
        from lambdas.migrate_databases import roles

        s = self.require_settings()
        return {
            s.compliance_migrator_secret_id: ("compliance", roles.COMPLIANCE_MIGRATOR),
            s.compliance_writer_secret_id: ("compliance", roles.COMPLIANCE_WRITER),
            s.compliance_reader_secret_id: ("compliance", roles.COMPLIANCE_READER),
            s.warehouse_transformer_secret_id: ("warehouse", roles.WAREHOUSE_TRANSFORMER),
            s.warehouse_reader_secret_id: ("warehouse", roles.WAREHOUSE_READER),
        }

    def secrets(self) -> dict[str, dict[str, Any]]:
        """Every database secret as the Python provisioner writes it: the two admin (master) secrets hold
        the superuser, read by the migration step alone; one secret per login role."""
        s = self.require_settings()

        def secret(db: str, user: str, password: str) -> dict[str, Any]:
            return {
                "engine": "postgres", "host": "127.0.0.1", "port": self.pg.port,
                "username": user, "password": password, "dbname": db,
            }  # fmt: skip

        out = {
            s.compliance_admin_secret_id: secret("compliance", SUPERUSER, self.pg.password),
            s.warehouse_admin_secret_id: secret("warehouse", SUPERUSER, self.pg.password),
        }
        for secret_id, (db, role) in self.role_secret_ids().items():
            out[secret_id] = secret(db, role, self.pg.role_passwords[role])
        return out

    def state_machine_arn(self, workflow: str) -> str:
        assert self.provisioned is not None
        return self.provisioned.state_machine_arns[workflow]

    @property
    def dead_letter_queue_url(self) -> str:
        assert self.provisioned is not None
        return self.provisioned.queue_urls[self.require_settings().dead_letter_queue_name]

    def credentials(self) -> auth.CredentialRegistry:
        """The API's credential registry (producers and analysts)."""
        return auth.CredentialRegistry(self.client("dynamodb"), auth.credentials_table_name(self.require_settings()))

    def api_headers(self, role: str = auth.PRODUCER) -> dict[str, str]:
        """The header carrying this stack's producer (or analyst) credential."""
        return {auth.API_KEY_HEADER: self.producer_key if role == auth.PRODUCER else self.analyst_key}

    def dsn(self, db: str, role: str | None = None) -> str:
        """DSN of a database as one of its login roles, by default its owner's (the compliance migrator,
        the warehouse transformer): the local operator's (psql, dbt, tests preparing data). The role's
        password is its secret's (the Terraform provisioner generates its own)."""
        from lambdas.migrate_databases import roles

        role = role or (roles.COMPLIANCE_MIGRATOR if db == "compliance" else roles.WAREHOUSE_TRANSFORMER)
        for secret_id, (_db, secret_role) in self.role_secret_ids().items():
            if secret_role == role:
                value = self.role_secrets[secret_id]
                return self.pg.dsn(db, user=role, password=str(value["password"]))
        raise KeyError(f"no login role {role!r}")

    def env(self) -> dict[str, str]:
        """Environment for processes using this stack (CLI, dbt, aws CLI, psql)."""
        from lambdas.migrate_databases import roles

        s = self.require_settings()
        # AWS_ENDPOINT_URL: the SDKs' and the AWS CLI's own setting, so boto3, the handlers and `aws` reach
        # moto with no endpoint in their code or arguments
        env = {**s.to_env(), **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": s.region}
        env["AWS_ENDPOINT_URL"] = self.moto.endpoint_url
        if self.xray is not None:  # the SDK's own setting too: the X-Ray daemon the runtime plays
            env[xray.ADDRESS_ENV] = self.xray.address
        env.update(
            {
                "MTX_WAREHOUSE_HOST": "127.0.0.1",
                "MTX_WAREHOUSE_PORT": str(self.pg.port),
                "MTX_WAREHOUSE_USER": str(self.role_secrets[s.warehouse_transformer_secret_id]["username"]),
                "MTX_WAREHOUSE_PASSWORD": str(self.role_secrets[s.warehouse_transformer_secret_id]["password"]),
                "MTX_WAREHOUSE_DBNAME": "warehouse",
                # psql for a person: the writer (reads rows; no DDL), not the migrator
                "MTX_COMPLIANCE_DSN": self.dsn("compliance", roles.COMPLIANCE_WRITER),
                "MTX_WAREHOUSE_DSN": self.dsn("warehouse"),
                "SPARK_LOCAL_IP": "127.0.0.1",  # the local Glue job's Spark binds to loopback only
                **lineage_file.env(self.home),  # OpenLineage: a file transport (lineage_file.py)
            }
        )
        return env

    # ------------------------------------------------------------------
    def start(self) -> LocalStack:
        t0 = time.monotonic()
        running = read_state(self.home)
        if running is not None and int(running["pid"]) != os.getpid() and pid_alive(int(running["pid"])):
            # starting here would stop its PostgreSQL (same data folder) under its feet
            raise StackAlreadyRunning(
                f"a local stack is already running in {self.home} (pid {running['pid']}):"
                f" `mtx --home {self.home} down` stops it, or start this one with another --home"
            )
        try:
            return self._start(t0)
        except BaseException:
            # a start that fails or is interrupted half way (an error, Ctrl-C, a benchmark's SIGTERM) stops what it
            # started: PostgreSQL and moto must not outlive a stack nobody holds (`with LocalStack()` gets no __exit__)
            self.stop()
            raise

    def _start(self, t0: float) -> LocalStack:
        self.home.mkdir(parents=True, exist_ok=True)
        self.pg.start()
        self.moto.start()
        emf.mark_run(self.home)
        emf.install(self.metrics_file)
        self.xray = xray.start(self.home)
        lineage_file.install(self.home)
        self.settings = Settings(
            name_prefix=self.name_prefix,
            home=self.home,
            sfn_time_scale=self.time_scale,
        )
        self.role_secrets = {k: v for k, v in self.secrets().items() if k in self.role_secret_ids()}
        os.environ.update(self.env())
        reset_settings_cache()
        from lambdas.common.aws import reset_clients
        from lambdas.common.enrich.players import forget_known
        from lambdas.common.secrets import clear_secret_cache
        from lambdas.ingest_stream.handler import forget_catalogue

        reset_clients()
        clear_secret_cache()
        # new containers: what a warm handler kept of another stack's tables is not this one's (a benchmark
        # starts several stacks in one process, each with empty tables under the same names)
        forget_known()
        forget_catalogue()
        lineage.configure(None)  # a client made before this stack's environment is dropped
        man = manifest_mod.build(self.settings)
        manifest_mod.register_lambdas(man)
        local_workers.register(sfn.REGISTRY, self.settings.function_name)  # CPU-bound ones: worker processes
        if self.provisioner == "terraform":
            self.provisioned = self._provision_with_terraform(man)
        elif self.provisioner == "python":
            self.provisioned = manifest_mod.provision(man, self.client, self.secrets())
        else:
            raise ValueError(f"provisioner: {self.provisioner!r} is neither 'python' nor 'terraform'")
        self._prepare_databases()
        if self.processes and isinstance(self.moto, MotoProcess):  # Lambda's execution environments
            self.lambdas = lambda_pool.LambdaPool(self.processes, self.env(), self.home)
            sfn.REGISTRY.delegate = self.lambdas.invoke
            self.moto.configure(self.env(), self.home, self.processes)
        self.seed_catalogue()
        self.seed_fx_rates()
        registry = self.credentials()
        self.producer_key = _issue(registry, self.producer_id, auth.PRODUCER)
        self.analyst_key = _issue(registry, auth.DEFAULT_ANALYST, auth.ANALYST)
        self.api = ApiServer(self.settings, self.inprocess_client, self.state_machine_arn("transaction"),
                             self.dead_letter_queue_url, registry)  # fmt: skip
        self.api.start()
        if "batch_ingest" in self.provisioned.state_machine_arns:
            self.trigger = BatchTrigger(
                self.client, self.provisioned.trigger_queue_url, self.state_machine_arn("batch_ingest")
            )
            self.trigger.start()
        scale = self.time_scale if self.schedule_time_scale is None else self.schedule_time_scale
        self.schedules = ScheduledRules(self.client, time_scale=scale)
        self.schedules.start()
        self.status_events = ExecutionStatusEvents(self.client, ended=self.moto.ended_executions)
        self.status_events.start()
        if "ingest_stream" in man.lambdas:
            self.stream_poller = StreamPoller(
                self.client, manifest_mod.stream_name(self.settings), self.settings.function_arn("ingest_stream"),
                manifest_mod.stream_failures_queue_name(self.settings), puts=self.moto.stream_puts,
                mapping=self.stream_mapping or StreamMapping.from_env(),
            )  # fmt: skip
            self.stream_poller.start()
        self.started_at = time.time()
        self._write_state(time.monotonic() - t0)
        return self

    def _provision_with_terraform(self, man: manifest_mod.Manifest) -> manifest_mod.Provisioned:
        from orchestration.runtime.terraform import Database, TerraformApply, TerraformError, unavailable

        reason = unavailable()
        if reason:
            raise TerraformError(f"cannot provision with Terraform here: {reason}")
        s = self.require_settings()
        self.terraform = TerraformApply(
            home=self.home,
            endpoint_url=self.moto.endpoint_url,
            database=Database(host="127.0.0.1", port=self.pg.port, username=SUPERUSER, password=self.pg.password),
        )
        out = self.terraform.run()
        if out["name_prefix"] != s.name_prefix:
            raise TerraformError(f"envs/local named the stack {out['name_prefix']!r}, not {s.name_prefix!r}")
        return manifest_mod.add_local_runtime_parts(
            man, self.client, {s.dead_letter_queue_name: out["dead_letter_queue_url"]}, dict(out["state_machine_arns"])
        )

    def _prepare_databases(self) -> None:
        """The deploy-time migration step, as in AWS: roles from their secrets, then the compliance
        migrations as the migrator and the raw table as the transformer (lambdas/migrate_databases)."""
        from lambdas.migrate_databases.handler import migrate_all

        sm = self.client("secretsmanager")
        self.role_secrets = {
            secret_id: json.loads(sm.get_secret_value(SecretId=secret_id)["SecretString"])
            for secret_id in self.role_secret_ids()
        }
        migrate_all(self.require_settings())
        os.environ.update(self.env())

    def seed_catalogue(self) -> int:
        from orchestration.sample_data.catalogue import CATALOGUE, to_dynamodb_item

        s = self.require_settings()
        ddb = self.client("dynamodb")
        items = [to_dynamodb_item(item) for item in CATALOGUE]
        for i in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": it}} for it in items[i : i + 25]]
            ddb.batch_write_item(RequestItems={s.item_catalogue_table: batch})
        return len(items)

    def seed_fx_rates(self) -> int:
        """The daily FX table the Enrich stage reads, as refresh_fx_rates would publish it in AWS: from the
        dbt seed of rates, so the pipeline and the warehouse convert alike (orchestration/sample_data/fx.py)."""
        from orchestration.sample_data.fx import fx_document

        s = self.require_settings()
        document = fx_document()
        self.client("s3").put_object(Bucket=s.fx_rates_bucket, Key=s.fx_rates_key, ContentType="application/json",
                                     Body=json.dumps(document, sort_keys=True).encode())  # fmt: skip
        return len(document["rates"])

    def _write_state(self, startup_seconds: float) -> None:
        s = self.require_settings()
        assert self.provisioned is not None
        state = {
            "pid": os.getpid(),
            "name_prefix": self.name_prefix,
            "aws_endpoint_url": self.moto.endpoint_url,
            "region": s.region,
            "postgres_port": self.pg.port,
            "compliance_dsn": self.env()["MTX_COMPLIANCE_DSN"],
            "warehouse_dsn": self.dsn("warehouse"),
            "api_url": self.api.url if self.api else None,
            "state_machines": self.provisioned.state_machine_arns,
            "queues": self.provisioned.queue_urls,
            "startup_seconds": round(startup_seconds, 2),
            "provisioner": self.provisioner,
            "terraform_seconds": self.terraform.timings if self.terraform else None,
        }
        write_private(self.state_file, json.dumps(state, indent=2))
        credentials = {
            auth.PRODUCER_KEY_ENV: self.producer_key,
            auth.PRODUCER_ID_ENV: self.producer_id,
            auth.ANALYST_KEY_ENV: self.analyst_key,
        }
        lines = [f"export {k}={json.dumps(v)}" for k, v in sorted({**self.env(), **credentials}.items())]
        write_private(self.env_file, "\n".join(lines) + "\n")  # last: waiters poll for this file

    def stop(self) -> None:
        from lambdas.common.db import close_all
        from orchestration.runtime import glue

        glue.stop_spark()  # the local Glue job ran behind moto's StartJobRun in this process: stop its Spark JVM
        emf.uninstall()
        if self.xray is not None:  # not started: another stack's daemon may be the running one
            xray.stop(self.xray)
            self.xray = None
        if self.trigger is not None:
            self.trigger.stop()
        for poller in (self.schedules, self.status_events, self.stream_poller):
            if poller is not None:
                poller.stop()
        if self.api is not None:
            self.api.stop()
        self._inprocess_clients.clear()  # bound to this start's moto port
        close_all()
        local_workers.shutdown()
        if self.lambdas is not None:
            sfn.REGISTRY.delegate = None
            self.lambdas.shutdown()
            self.lambdas = None
        self.moto.stop()
        self.pg.stop()
        for path in (self.state_file, self.env_file):
            path.unlink(missing_ok=True)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _issue(registry: auth.CredentialRegistry, principal_id: str, role: str) -> str:
    """A key for the principal: a new one, or a rotation when the registry knows it already."""
    try:
        return registry.create(principal_id, role)
    except auth.PrincipalExists:
        return registry.rotate(principal_id, role)
