"""What infra/scripts/package.py ships: the deployed code stands alone (issue 22).

The code zips are built for real into a temporary folder (they take a fraction of
a second; the layer and the Glue wheels, which need PyPI, are not built) and their
entries are read back: no file of the local runtime, the benchmarks or the tests.
The import-linter contract in pyproject.toml (`make check`) keeps the deployed
code from importing them; the last test proves it at run time: every handler
imports from the unpacked functions.zip with them out of reach.
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


def test_the_functions_zip_holds_no_glue_stand_in(tmp_path: Path) -> None:
    """The local crawler and the local Spark runner belong to the local runtime (orchestration/runtime/glue*.py),
    and no Lambda calls Glue: the analytics refresh state machine starts the crawler and the job (issue 22)."""
    package = _package_module()
    target = package.code_zip(tmp_path / "functions.zip", package.function_files())
    with zipfile.ZipFile(target) as zf:
        sources = {n: zf.read(n).decode() for n in zf.namelist() if n.endswith(".py")}
    assert "glue_jobs/crawler.py" not in sources
    assert not [n for n in sources if n.startswith("glue_jobs/")], (
        "no Lambda imports the Glue job: it ships in libs.zip"
    )

    assert [n for n in sources if n.rsplit("/", 1)[-1] in ("crawler.py", "glue_crawler.py", "glue.py")] == []
    emulators = [n for n, text in sources.items() if "def crawl(" in text or "batch_create_partition" in text]
    assert emulators == []
    # no Lambda starts or polls Glue: the analytics refresh does (aws-sdk:glue:startCrawler, glue:startJobRun.sync)
    calls = ("start_crawler(", "start_job_run(", "local_spark_session", "flatten_transactions")
    glue_callers = [n for n, text in sources.items() if n.startswith("lambdas/") and any(c in text for c in calls)]
    assert glue_callers == []


def test_the_glue_libs_hold_only_the_job_and_the_contract(tmp_path: Path) -> None:
    package = _package_module()
    target = package.code_zip(tmp_path / "libs.zip", package.glue_lib_files())
    with zipfile.ZipFile(target) as zf:
        tops = {n.split("/", 1)[0] for n in zf.namelist()}
    assert tops == {"glue_jobs", "contracts"}


#: Run in the unpacked zip: import the given modules with the local runtime, the benchmarks and the tests
#: made unimportable (the editable install would otherwise find them in the checkout), and check that each
#: module came from the unpacked zip.
_IMPORT_ALONE = """
import importlib, importlib.abc, sys
from pathlib import Path

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("orchestration", "benchmarks", "tests"):
            raise ImportError(f"{name} is not in the package")
        return None

sys.meta_path.insert(0, Refuse())
root = Path.cwd().resolve()
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().is_relative_to(root), (name, module.__file__)
print("imported", len(sys.argv) - 1)
"""


def test_every_handler_imports_from_the_unpacked_zip_alone(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from orchestration.runtime.manifest import LAMBDAS

    package = _package_module()
    target = package.code_zip(tmp_path / "functions.zip", package.function_files())
    root = tmp_path / "task"
    with zipfile.ZipFile(target) as zf:
        zf.extractall(root)
    # every handler module
    modules = sorted({handler.rsplit(".", 1)[0] for handler in LAMBDAS.values()})
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALONE, *modules], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == f"imported {len(modules)}"
