"""What infra/scripts/package.py ships: the deployed code stands alone (issue 22).

The code zips are built for real into a temporary folder (they take a fraction of
a second; the layer and the Glue wheels, which need PyPI, are not built) and their
entries are read back: no file of the local runtime, the benchmarks or the tests.
The import-linter contract in pyproject.toml (`make check`) keeps the deployed
code from importing them, so a zip without them is complete.
"""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[3]
LOCAL_ONLY = ("orchestration/", "benchmarks/", "tests/")


def _package_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mtx_package", REPO / "infra" / "scripts" / "package.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("files_of", ["function_files", "glue_lib_files"])
def test_the_file_lists_hold_no_local_code(files_of: str) -> None:
    files = [p.relative_to(REPO).as_posix() for p in getattr(_package_module(), files_of)()]
    assert files
    assert [f for f in files if f.startswith(LOCAL_ONLY)] == []
    assert "contracts/config.py" in files  # the settings reader ships with the code that reads it


@pytest.mark.parametrize("files_of", ["function_files", "glue_lib_files"])
def test_the_built_zip_holds_no_local_code(files_of: str, tmp_path: Path) -> None:
    package = _package_module()
    target = package.code_zip(tmp_path / f"{files_of}.zip", getattr(package, files_of)())
    with zipfile.ZipFile(target) as zf:
        names = zf.namelist()
    assert "contracts/config.py" in names
    assert [n for n in names if n.startswith(LOCAL_ONLY)] == []
    # every top-level folder is a deployed package
    assert {n.split("/", 1)[0] for n in names} <= {"contracts", "lambdas", "glue_jobs", "expectations"}
