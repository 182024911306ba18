"""The dbt project's layers: staging -> intermediate -> marts, never up the stack.

Read from the model files themselves (no dbt parse, no database): every ``ref()`` and
``source()`` of a model, and its materialisation (its ``config()`` block, else the
deepest folder's default in dbt_project.yml).

What could fail: an intermediate model that reads a mart (mart -> int -> mart), a staging
model that reads anything but a source, a model outside the three layers, an intermediate
model built as a table without the measured reason in its yml, a model header grown back
into a performance diary.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_DIR = REPO_ROOT / "dbt"
MODELS = DBT_DIR / "models"
LAYERS = ("staging", "intermediate", "marts")
#: a model header (the comment between its config block and its SQL) says what the model is
MAX_HEADER_LINES = 8

REF = re.compile(r"""\bref\(\s*['"](\w+)['"]\s*\)""")
SOURCE = re.compile(r"""\bsource\(\s*['"](\w+)['"]\s*,\s*['"](\w+)['"]\s*\)""")
MATERIALIZED = re.compile(r"""\bmaterialized\s*=\s*['"](\w+)['"]""")


def _models() -> dict[str, Path]:
    return {path.stem: path for path in sorted(MODELS.rglob("*.sql"))}


def _layer(path: Path) -> str:
    return path.relative_to(MODELS).parts[0]


def _seeds() -> set[str]:
    return {path.stem for path in (DBT_DIR / "seeds").glob("*.csv")}


def _properties() -> dict[str, dict]:
    """model name -> its entry in a models/**/*.yml file."""
    out: dict[str, dict] = {}
    for path in MODELS.rglob("*.yml"):
        for node in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            out[node["name"]] = node
    return out


def _without_config(sql: str) -> str:
    """The model's SQL after its leading ``{{ config(...) }}`` block (one line, or up to a line ``}}``)."""
    match = re.match(
        r"\s*\{\{\s*config\(.*?^\}\}\s*$|\s*\{\{\s*config\(.*?\)\s*\}\}\s*$", sql, re.DOTALL | re.MULTILINE
    )
    return sql[match.end() :].lstrip("\n") if match else sql


def _materialization(path: Path) -> str:
    """The model's ``materialized=``, else the deepest folder's ``+materialized`` in dbt_project.yml."""
    match = MATERIALIZED.search(path.read_text())
    if match:
        return match.group(1)
    node = yaml.safe_load((DBT_DIR / "dbt_project.yml").read_text())["models"]["mtx"]
    materialization = node.get("+materialized")
    for folder in path.relative_to(MODELS).parts[:-1]:
        node = node.get(folder) or {}
        materialization = node.get("+materialized", materialization)
    assert materialization, f"{path.name}: no materialisation in its config() or dbt_project.yml"
    return str(materialization)


def test_the_materialisation_is_read_from_the_deepest_folder() -> None:
    # what the intermediate rule below relies on: the player-month aggregate is incremental by its folder
    models = _models()
    assert _materialization(models["int_transactions_aggregated_to_player_months"]) == "incremental"
    assert _materialization(models["int_transactions_converted_to_usd"]) == "view"
    assert _materialization(models["fct_player_cohorts"]) == "table"
    assert _materialization(models["fct_daily_revenue"]) == "incremental"


def test_every_model_is_in_a_layer() -> None:
    assert _models()
    assert {_layer(path) for path in _models().values()} <= set(LAYERS)


@pytest.mark.parametrize("name", sorted(_models()))
def test_a_model_reads_only_its_own_layer_or_below(name: str) -> None:
    models, seeds = _models(), _seeds()
    path = models[name]
    layer = _layer(path)
    sql = path.read_text()
    refs = set(REF.findall(sql))
    unknown = refs - set(models) - seeds
    assert not unknown, f"{name} refs {sorted(unknown)}: neither a model nor a seed"
    read_layers = {_layer(models[ref]) for ref in refs if ref in models}
    if layer == "staging":
        assert not refs, f"{name}: staging reads sources only, not {sorted(refs)}"
        assert SOURCE.search(sql), f"{name}: a staging model reads a source"
    elif layer == "intermediate":
        assert read_layers <= {"staging", "intermediate"}, f"{name} reads a mart: {sorted(refs)}"
        assert not SOURCE.search(sql), f"{name}: sources are read through staging"


def test_the_marts_read_the_intermediates_not_staging_or_sources_directly() -> None:
    models = _models()
    for name, path in models.items():
        if _layer(path) != "marts":
            continue
        refs = set(REF.findall(path.read_text()))
        assert all(_layer(models[r]) != "staging" for r in refs if r in models), name
        # fct_transactions' pre-hook names the source (to index it), its SQL reads the intermediate
        assert not SOURCE.search(_without_config(path.read_text())), f"{name} reads a source directly"


@pytest.mark.parametrize("name", sorted(n for n, p in _models().items() if _layer(p) == "intermediate"))
def test_an_intermediate_is_a_view_unless_its_yml_gives_the_measured_reason(name: str) -> None:
    materialization = _materialization(_models()[name])
    if materialization in ("view", "ephemeral"):
        return
    meta = (_properties().get(name, {}).get("config") or {}).get("meta") or {}
    reason = meta.get("materialized_as_table_because", "")
    assert re.search(r"\d", reason) and "benchmark" in reason, (
        f"{name} is materialised as {materialization}: its yml says why, with the measurement "
        "(config.meta.materialized_as_table_because)"
    )


@pytest.mark.parametrize("name", sorted(_models()))
def test_a_model_header_says_what_the_model_is_in_a_few_lines(name: str) -> None:
    sql = _without_config(_models()[name].read_text())
    header = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        header.append(line)
    assert header, f"{name}: no header comment"
    assert len(header) <= MAX_HEADER_LINES, f"{name}: {len(header)} header lines; design notes go to docs/"
