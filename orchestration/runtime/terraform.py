"""`mtx up --terraform`: the local stack provisioned by `terraform apply` of infra/terraform/envs/local.

The same modules as envs/dev and envs/prod, with every AWS endpoint pointed at the
local moto server. RDS and Redshift Serverless are switched off by the
``external_databases`` variable: the local PostgreSQL stands in for both, and
the two master (admin) secrets hold its superuser's connection (its password goes
in through TF_VAR_external_database_password, an ephemeral variable: never in plan
or state). The role secrets (modules/database_roles) get passwords Terraform
generates; moto runs no Lambda, so the deploy-time migration step is not invoked
(run_database_migrations=false): the stack runs the same step itself and sets the
roles' passwords from those secrets.

Needs a terraform binary (>= 1.11) and the hashicorp/aws provider 5.100.0, from
the registry or from an offline mirror (TF_PLUGIN_DIR, or the usual plug-in
folders). ``unavailable()`` says which is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.settings import REPO_ROOT

ENV_DIR = REPO_ROOT / "infra" / "terraform" / "envs" / "local"
PROVIDER = "registry.terraform.io/hashicorp/aws"
MIRROR_CANDIDATES = (
    "/opt/tf-plugins",
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
)


def terraform_binary() -> str | None:
    return shutil.which(os.environ.get("TERRAFORM", "terraform"))


def provider_mirror() -> Path | None:
    """A folder holding registry.terraform.io/hashicorp/aws/<version>/<os_arch>/terraform-provider-aws_*."""
    candidates = [os.environ.get("TF_PLUGIN_DIR", ""), *MIRROR_CANDIDATES]
    for candidate in candidates:
        if not candidate:
            continue
        root = Path(candidate).expanduser()
        if any(root.glob(f"{PROVIDER}/*/*/terraform-provider-aws_*")):
            return root
    return None


def unavailable() -> str | None:
    """Why `terraform apply` of envs/local cannot run here, or None."""
    if terraform_binary() is None:
        return "no terraform binary on PATH (or $TERRAFORM)"
    if provider_mirror() is None and not os.environ.get("MTX_TF_USE_REGISTRY"):
        return "no offline mirror of hashicorp/aws (set TF_PLUGIN_DIR, or MTX_TF_USE_REGISTRY=1 to download it)"
    return None


class TerraformError(RuntimeError):
    pass


@dataclass
class Database:
    host: str
    port: int
    username: str
    password: str
    compliance_dbname: str = "compliance"
    warehouse_dbname: str = "warehouse"


@dataclass
class TerraformApply:
    """init + apply of envs/local into ``home`` (state, plug-in cache, logs all there)."""

    home: Path
    endpoint_url: str
    database: Database
    parallelism: int = 30
    timings: dict[str, float] = field(default_factory=dict)
    first_failure: str | None = None  # why the first apply failed, when a second one on an empty emulator ran

    @property
    def work_dir(self) -> Path:
        return self.home / "terraform"

    def _env(self) -> dict[str, str]:
        from orchestration.runtime.moto_server import FAKE_CREDENTIALS

        # Nothing of a real AWS profile reaches this terraform: moto's fake keys only.
        # nor TF_LOG (the provider's debug log would print request bodies: the secret's password) nor TF_CLI_ARGS
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_VAR_", "TF_LOG", "TF_CLI_ARGS"))}
        env.update(FAKE_CREDENTIALS)
        env.update(
            {
                "TF_DATA_DIR": str(self.work_dir / ".terraform"),
                "TF_IN_AUTOMATION": "1",
                "CHECKPOINT_DISABLE": "1",
                "TF_CLI_CONFIG_FILE": os.environ.get("MTX_TF_CLI_CONFIG_FILE", "/dev/null"),
                "TF_VAR_external_database_password": self.database.password,
            }
        )
        return env

    def _run(self, command: str, *args: str) -> str:
        """``terraform <command> <args>``, logged to <home>/terraform/<command>.log and timed."""
        binary = terraform_binary()
        if binary is None:
            raise TerraformError(unavailable() or "no terraform")
        log = self.work_dir / f"{command}.log"
        t0 = time.monotonic()
        proc = subprocess.run(
            [binary, f"-chdir={ENV_DIR}", command, *args],
            env=self._env(), capture_output=True, text=True, check=False,
        )  # fmt: skip
        self.timings[command] = round(time.monotonic() - t0, 1)
        log.touch(mode=0o600)
        log.write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
            raise TerraformError(f"terraform {command} failed (exit {proc.returncode}, full log {log}):\n{tail}")
        return proc.stdout

    def package(self) -> None:
        """What the lambda and glue modules upload: infra/build/ (`make package`)."""
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, str(REPO_ROOT / "infra" / "scripts" / "package.py")],
            capture_output=True, text=True, check=False, cwd=REPO_ROOT,
        )  # fmt: skip
        self.timings["package"] = round(time.monotonic() - t0, 1)
        if proc.returncode != 0:
            raise TerraformError(f"packaging failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")

    def init(self) -> None:
        """A fresh state: every `mtx up` starts an empty moto server, so a state from an earlier one names
        resources that no longer exist (refreshing them would be slow, and wrong)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        for old in self.work_dir.glob("terraform.tfstate*"):
            old.unlink()
        args = ["-input=false", "-no-color", f"-backend-config=path={self.work_dir / 'terraform.tfstate'}"]
        mirror = provider_mirror()
        if mirror is not None:
            args.append(f"-plugin-dir={mirror}")
        self._run("init", *args)

    def variables(self) -> list[str]:
        db = self.database
        external = {
            "host": db.host, "port": db.port, "username": db.username,
            "compliance_dbname": db.compliance_dbname, "warehouse_dbname": db.warehouse_dbname,
        }  # fmt: skip
        return [
            "-var", f"aws_endpoint_url={self.endpoint_url}",
            "-var", f"external_databases={json.dumps(external)}",
            "-var", "run_database_migrations=false",
        ]  # fmt: skip

    def apply(self) -> dict[str, Any]:
        self._run(
            "apply", "-input=false", "-no-color", "-auto-approve", f"-parallelism={self.parallelism}", *self.variables()
        )
        return self.outputs()

    def empty_emulator(self) -> None:
        """moto's own reset (POST /moto-api/reset): every resource gone, as when it started."""
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the local emulator's own URL
            answer.read()

    def outputs(self) -> dict[str, Any]:
        raw = json.loads(self._run("output", "-json", "-no-color"))
        return {name: entry["value"] for name, entry in raw.items()}

    def run(self, second_chance: bool = True) -> dict[str, Any]:
        """package, init, apply. If the apply fails (and ``second_chance``), once more on
        an empty emulator with a fresh state: under load, the provider can retry a call the emulator had already
        done when its answer came late (one CI run: AuthorizeSecurityGroupEgress answered
        InvalidPermission.Duplicate on the provider's retry), which no later apply of the same state can get past.
        A real mistake in the configuration fails twice; the first failure stays in apply-first.log."""
        self.package()
        self.init()
        try:
            return self.apply()
        except TerraformError as first:
            if not second_chance:
                raise
            self.first_failure = str(first)
            (self.work_dir / "apply.log").replace(self.work_dir / "apply-first.log")
        self.empty_emulator()
        self.init()
        return self.apply()
