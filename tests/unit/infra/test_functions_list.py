"""infra/functions.json: the one list of Lambda functions, read by Terraform and by the local runtime.

Every entry names a handler that exists, every handler of lambdas/ is listed, and
both readers (modules/lambda's locals, orchestration/runtime/resources.py) take the same
attributes from it.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from orchestration.runtime import resources
from tests.hcl_helpers import MODULES, REPO, module_locals, resource

pytestmark = pytest.mark.unit

LAMBDA = MODULES / "lambda"
#: the attributes an entry may have; Terraform's locals and Function read exactly these
ATTRIBUTES = {"handler", "memory", "timeout", "reserved_concurrency", "image", "async", "schedule", "master_login"}


def entries() -> dict[str, dict[str, Any]]:
    data = json.loads(resources.FUNCTIONS_FILE.read_text())
    assert set(data) == {"about", "functions"}
    functions: dict[str, dict[str, Any]] = data["functions"]
    return functions


def test_every_listed_handler_exists() -> None:
    for short, entry in entries().items():
        assert re.fullmatch(r"[a-z_]+", short), short
        assert set(entry) <= ATTRIBUTES, f"{short}: unknown {set(entry) - ATTRIBUTES}"
        module_name, func = entry["handler"].rsplit(".", 1)
        source = REPO / Path(*module_name.split(".")).with_suffix(".py")
        assert source.is_file(), f"{short}: no {source.relative_to(REPO)}"
        tree = ast.parse(source.read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == func for n in tree.body), f"{short}: no {func}"


def test_every_handler_of_lambdas_is_listed_once() -> None:
    on_disk = {p.parent.name for p in (REPO / "lambdas").glob("*/handler.py")}
    listed = [entry["handler"].split(".")[1] for entry in entries().values()]
    assert sorted(listed) == sorted(set(listed)), "two functions with one handler"
    assert set(listed) == on_disk


def test_sizes_and_flags_are_in_range() -> None:
    for short, entry in entries().items():
        assert 128 <= entry["memory"] <= 10240 and entry["memory"] % 64 == 0, short
        assert 1 <= entry["timeout"] <= 900, short
        assert entry.get("reserved_concurrency", 1) >= 1, short
        for flag in ("image", "async", "master_login"):
            assert entry.get(flag, False) in (True, False), (short, flag)
        assert re.fullmatch(r"(rate|cron)\(.+\)", entry.get("schedule", "rate(x)")), short
    # the reservations sum to what the RDS Proxy's default pool is sized for (infra/README.md)
    assert sum(e.get("reserved_concurrency", 0) for e in entries().values()) == 110


def test_the_local_runtime_reads_every_attribute() -> None:
    functions = resources.load_functions()
    assert list(functions) == list(entries())
    for short, entry in entries().items():
        f = functions[short]
        assert (f.handler, f.memory, f.timeout) == (entry["handler"], entry["memory"], entry["timeout"])
        assert f.reserved_concurrency == entry.get("reserved_concurrency")
        assert (f.image, f.invoked_async, f.master_login) == tuple(
            entry.get(k, False) for k in ("image", "async", "master_login")
        )
        assert f.schedule == entry.get("schedule")
    assert {short: e["handler"] for short, e in entries().items()} == resources.LAMBDAS
    assert {short: e["schedule"] for short, e in entries().items() if "schedule" in e} == resources.SCHEDULED


def test_terraform_reads_every_attribute_and_derives_its_lists_from_them() -> None:
    local = module_locals(LAMBDA)
    normalised = local["functions"]
    for attribute in ATTRIBUTES - {"async"}:
        assert re.search(rf"\b{attribute}\s+= (try\()?f\.{attribute}\b", normalised), attribute
    assert re.search(r"\basync\s+= try\(f\.async, false\)", normalised)
    assert local["image_functions"].endswith("[for short, f in local.functions : short if f.image]}")
    assert local["migration_functions"] == "${[for short, f in local.functions : short if f.master_login]}"
    assert local["async_functions"] == "${[for short, f in local.functions : short if f.async]}"
    assert "f.reserved_concurrency" in local["database_reserved_concurrency"]
    body = resource(LAMBDA, "aws_lambda_function")
    assert body["for_each"] == "${local.functions}"
    assert "local.database_reserved_concurrency" in body["reserved_concurrent_executions"]
