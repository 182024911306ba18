"""The analytics container image (infra/docker/analytics): what BuildMarts and
RunDataChecks need and the zip cannot hold. No Docker here, so the Dockerfile
is read, not built: it must copy what functions.zip holds plus the dbt project,
install the pinned requirements, and its context must leave out local state."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[3]
DOCKER = REPO / "infra" / "docker" / "analytics"


def _package_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("mtx_package", REPO / "infra" / "scripts" / "package.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _copies() -> list[tuple[list[str], str]]:
    out = []
    for line in (DOCKER / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            *sources, target = line.split()[1:]
            out.append((sources, target))
    return out


def test_the_image_holds_the_function_code_and_the_dbt_project() -> None:
    copied = {s.rstrip("/") for sources, _ in _copies() for s in sources}
    files = {p.relative_to(REPO).as_posix() for p in _package_module().function_files()}
    for f in files:  # every file of functions.zip is copied (its folder or itself)
        assert f in copied or f.split("/", 1)[0] in copied, f
    assert "dbt" in copied
    for sources, target in _copies():
        if target.startswith("/tmp/"):  # the requirements and the lock, for pip
            continue
        for source in sources:  # at the same relative path under the task root (REPO_ROOT there)
            folder = source if source.endswith("/") else source.rsplit("/", 1)[0] + "/"
            assert target == "${LAMBDA_TASK_ROOT}/" + folder, (source, target)


def test_the_image_installs_the_pinned_requirements_on_the_lambda_base() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^FROM public\.ecr\.aws/lambda/python:\$\{PYTHON_VERSION\}$", text, re.M)
    # the top-level pins, and the whole lock as constraints for everything they pull in
    assert "COPY infra/requirements/analytics-image.txt /tmp/requirements.txt" in text
    assert "COPY requirements.lock /tmp/constraints.txt" in text
    assert "-r /tmp/requirements.txt -c /tmp/constraints.txt" in text
    pins = (REPO / "infra" / "requirements" / "analytics-image.txt").read_text()
    for package in ("dbt-core", "dbt-redshift", "great-expectations", "aws-lambda-powertools"):
        assert re.search(rf"^{package}(\[[^\]]+\])?==", pins, re.M), package


def test_the_build_context_leaves_out_local_state() -> None:
    lines = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    ignore = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*"  # everything out first, then what is copied back in
    for excluded in ("dbt/target/", "dbt/logs/", "**/__pycache__/"):
        assert excluded in ignore
    assert not any(line.startswith(("!.local", "!.venv")) for line in ignore)
    # every source the Dockerfile copies is let back into the context
    for sources, _ in _copies():
        for source in sources:
            assert "!" + source in ignore, f"COPY {source} but the .dockerignore leaves it out"
