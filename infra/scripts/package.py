"""Build what Terraform deploys: Lambda code and layer, Glue libs and wheels.

    python infra/scripts/package.py              # everything (the layer and wheels need PyPI)
    python infra/scripts/package.py --code-only  # only the code zips (offline)

Outputs (git-ignored), read by infra/terraform/modules/platform/main.tf (every envs/<env> calls it):

- infra/build/lambda/functions.zip  lambdas/, contracts/ (with the settings reader, contracts/config.py),
                                    expectations/ (the data checks); never glue_jobs/, orchestration/,
                                    benchmarks/, tests/
- infra/build/lambda/layer.zip      python/<pinned dependencies> for the Lambda runtime (lambda-layer.txt, and
                                    lambda-layer-no-deps.txt: the X-Ray SDK without the runtime's botocore)
- infra/build/glue/libs.zip         glue_jobs/, contracts/ (the job's --extra-py-files)
- infra/build/glue/wheels/*.whl     the job's --additional-python-modules

Zips are reproducible (sorted entries, fixed timestamps), so an unchanged tree
gives an unchanged source_code_hash and Terraform updates nothing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "infra" / "build"
REQUIREMENTS = REPO / "infra" / "requirements"

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
CODE_SUFFIXES = {".py", ".json", ".sql", ".pem"}  # .pem: the database CA bundle (lambdas/common/certs)
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}


def _tree(package: str) -> Iterator[Path]:
    for path in sorted((REPO / package).rglob("*")):
        if path.is_file() and path.suffix in CODE_SUFFIXES and "__pycache__" not in path.parts:
            yield path


def function_files() -> list[Path]:
    """What the Lambdas import: lambdas/, contracts/ (the settings reader is contracts/config.py) and
    expectations/ (the data checks). Not glue_jobs/ (the Glue job runs in Glue, from the Glue libs below; no
    Lambda imports it), nothing of the local runtime (orchestration/), benchmarks/ or tests/: the
    import-linter contracts in pyproject.toml keep the deployed code from importing them."""
    files = [*_tree("lambdas"), *_tree("contracts"), *_tree("expectations")]
    # the Data Docs' vendored scripts, styles and fonts (expectations/offline_docs.py)
    files += sorted(p for p in (REPO / "expectations" / "data_docs_assets").rglob("*") if p.is_file())
    return files


def glue_lib_files() -> list[Path]:
    """What the Glue job imports besides its script: glue_jobs/ and contracts/."""
    return [*_tree("glue_jobs"), *_tree("contracts")]


def write_zip(target: Path, files: Iterable[tuple[Path, str]]) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for source, name in sorted(files, key=lambda item: item[1]):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, source.read_bytes())
    tmp.replace(target)
    return target


def code_zip(target: Path, files: Iterable[Path]) -> Path:
    return write_zip(target, [(f, f.relative_to(REPO).as_posix()) for f in files])


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], check=True)


def layer_zip(target: Path, python_version: str, architecture: str) -> Path:
    with tempfile.TemporaryDirectory(prefix="mtx-layer-") as tmp:
        site = Path(tmp) / "python"
        pip("install", "--quiet", "--target", str(site), "--platform", PLATFORMS[architecture],
            "--implementation", "cp", "--python-version", python_version, "--only-binary=:all:",
            "-r", str(REQUIREMENTS / "lambda-layer.txt"))  # fmt: skip
        # the X-Ray SDK without botocore, which the Lambda runtime provides (see the file)
        pip("install", "--quiet", "--target", str(site), "--platform", PLATFORMS[architecture],
            "--implementation", "cp", "--python-version", python_version, "--only-binary=:all:", "--no-deps",
            "-r", str(REQUIREMENTS / "lambda-layer-no-deps.txt"))  # fmt: skip
        files = [p for p in sorted(site.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
        return write_zip(target, [(p, p.relative_to(tmp).as_posix()) for p in files])


def glue_wheels(target_dir: Path) -> list[Path]:
    shutil.rmtree(target_dir, ignore_errors=True)
    target_dir.mkdir(parents=True)
    pip("download", "--quiet", "--dest", str(target_dir), "--platform", PLATFORMS["x86_64"],
        "--implementation", "cp", "--python-version", "3.11", "--only-binary=:all:",
        "-r", str(REQUIREMENTS / "glue-wheels.txt"))  # fmt: skip
    return sorted(target_dir.glob("*.whl"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code-only", action="store_true", help="only the code zips (no PyPI needed)")
    parser.add_argument("--python-version", default="3.12", help="Python of the Lambda runtime (default 3.12)")
    parser.add_argument("--architecture", choices=sorted(PLATFORMS), default="x86_64", help="Lambda architecture")
    args = parser.parse_args(argv)

    built = [
        code_zip(BUILD / "lambda" / "functions.zip", function_files()),
        code_zip(BUILD / "glue" / "libs.zip", glue_lib_files()),
    ]
    if not args.code_only:
        built.append(layer_zip(BUILD / "lambda" / "layer.zip", args.python_version, args.architecture))
        built += glue_wheels(BUILD / "glue" / "wheels")
    for path in built:
        print(f"built {path.relative_to(REPO)} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
