"""`terraform init` (offline, from the provider mirror) and `terraform validate` of every environment.

Skips, with the reason, only where no terraform binary or no offline mirror of
hashicorp/aws exists on this machine; infra/scripts/tf_check.sh reports the same.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from orchestration.runtime.terraform import provider_mirror, terraform_binary

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
ENVS = REPO / "infra" / "terraform" / "envs"


@pytest.fixture(scope="module")
def terraform() -> tuple[str, Path]:
    binary = terraform_binary()
    if not binary:
        pytest.skip("no terraform binary on PATH (set TERRAFORM): terraform validate not run")
    mirror = provider_mirror()
    if mirror is None:
        pytest.skip("no offline mirror of hashicorp/aws (set TF_PLUGIN_DIR to the folder with registry.terraform.io)")
    return binary, mirror


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null", "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("env", ["dev", "prod", "local"])
def test_environment_validates_offline(terraform: tuple[str, Path], env: str) -> None:
    binary, mirror = terraform
    init = _run([binary, "init", "-backend=false", "-input=false", "-no-color", f"-plugin-dir={mirror}"], ENVS / env)
    assert init.returncode == 0, init.stdout + init.stderr
    validate = _run([binary, "validate", "-json", "-no-color"], ENVS / env)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert '"valid": true' in validate.stdout
