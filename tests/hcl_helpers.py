"""Reading infra/terraform as data (python-hcl2), shared by the structural tests under tests/unit/infra."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parents[1]
TF = REPO / "infra" / "terraform"
MODULES = TF / "modules"
ENVS = TF / "envs"
#: the composition module every env root calls once (the module calls and the locals that wire them)
PLATFORM = MODULES / "platform"


def tf_files() -> list[Path]:
    return sorted(p for p in TF.rglob("*.tf") if ".terraform" not in p.parts)


@cache
def parsed(path: Path) -> dict[str, Any]:
    with path.open() as fh:
        return hcl2.load(fh)


def unquote(value: Any) -> Any:
    """python-hcl2 keeps string literals quoted ('"mtx"') and labels too."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def blocks(directory: Path, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, name, body) of every resource/data block of a module directory."""
    found = []
    for path in sorted(directory.glob("*.tf")):
        for entry in parsed(path).get(kind, []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    found.append((unquote(rtype), unquote(name), body))
    return found


def resource(directory: Path, rtype: str, name: str = "this") -> dict[str, Any]:
    for t, n, body in blocks(directory, "resource"):
        if (t, n) == (rtype, name):
            return body
    raise AssertionError(f"no resource {rtype}.{name} in {directory.relative_to(REPO)}")


def module_locals(directory: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for path in sorted(directory.glob("*.tf")):
        for entry in parsed(path).get("locals", []):
            values.update({k: v for k, v in entry.items() if not k.startswith("__")})
    return values


def variables(directory: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(directory.glob("*.tf")):
        for entry in parsed(path).get("variable", []):
            for name, body in entry.items():
                found[unquote(name)] = body
    return found
