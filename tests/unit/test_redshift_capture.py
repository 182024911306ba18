"""Every statement the product sends to Redshift, captured offline, passes the Redshift gate.

The capture (dbt/scripts/redshift_capture.py and its modules) runs the real dbt-redshift adapter against a
recording stand-in for the server (a full build, an incremental build, source freshness),
and the Glue job's warehouse load, the analytics API's named operations and the warehouse
migrations with recording connections; the gate (dbt/scripts/redshift_gate.py) checks it.

What could fail: a project macro that reaches Redshift in its PostgreSQL form (dispatch
falls back from `redshift__` to `postgres__`: `collate "C"`, `pg_index`, the PostgreSQL
comment query), a PostgreSQL-only construct in any of the four sources, a mart without
its distribution/sort keys, its comments or the analysts' grant, a view that is not
late-binding, an incremental model whose merge never renders.

Cost: one capture (~20 s of CPU: dbt parse, two builds, source freshness and the analyses'
compile against the stand-in, in a subprocess; no server) and one gate run (~3 s), shared by
the module's tests.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_DIR = REPO_ROOT / "dbt"
SCRIPTS = DBT_DIR / "scripts"
MARTS = (
    "fct_transactions",
    "fct_transaction_status_history",
    "dim_players",
    "dim_items",
    "fct_daily_revenue",
    "fct_hourly_revenue",
    "fct_item_performance",
    "fct_payment_mix",
    "fct_player_cohorts",
)
INCREMENTAL_MARTS = tuple(m for m in MARTS if m != "fct_player_cohorts")
SOURCES = (
    "dbt models",
    "dbt materializations",
    "dbt tests",
    "dbt unit tests",
    "dbt seeds",
    "dbt hooks",
    "dbt source freshness",
    "dbt analyses",
    "glue load",
    "analytics api",
    "migrations",
    "data checks",
)


@pytest.fixture(scope="module")
def capture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("redshift-capture")
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "redshift_capture.py"), str(out)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def records(capture_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(capture_dir.glob("*.jsonl")) for line in path.read_text().splitlines()]


def _flat(sql: str) -> str:
    return " ".join(sql.split()).lower().rstrip(";").strip()


def test_the_gate_passes_every_captured_statement_and_counts_them_per_source(
    capture_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = _load_gate()
    returncode = gate.main([str(capture_dir)])
    out, err = capsys.readouterr()
    assert returncode == 0, out[-6000:] + err[-2000:]
    counts = dict(re.findall(r"^\s+(.+?)\s+(\d+) statement\(s\) checked, 0 rejected", out, re.MULTILINE))
    for source in SOURCES:
        assert int(counts.get(source, 0)) > 0, (source, out)
    with capsys.disabled():
        print("\n" + out)  # the per-source counts, in the test log


def _load_gate() -> ModuleType:
    if str(SCRIPTS) not in sys.path:  # the gate imports its rules module from its folder
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location("redshift_gate", SCRIPTS / "redshift_gate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("redshift_gate", module)
    spec.loader.exec_module(module)
    return module


def test_no_postgresql_form_of_a_project_macro_reaches_redshift(records: list[dict[str, Any]]) -> None:
    text = "\n".join(r["sql"] for r in records)
    assert not re.search(r'collate\s+"c"', text, re.IGNORECASE)
    assert "pg_index" not in text
    assert "col_description" not in text and "obj_description" not in text  # the PostgreSQL persist_docs
    # the PostgreSQL-only hooks (BRIN index on raw, planner statistics) emit nothing
    assert "brin_summarize" not in text and "using brin" not in text.lower() and "pg_stat_user_tables" not in text
    # `unique` is dbt's own grouping query there (no index answers it on Redshift)
    unique = [r for r in records if r["origin"].startswith("test.mtx.unique_fct_transactions_transaction_id")]
    assert unique and all("having count(*) > 1" in _flat(r["sql"]) for r in unique)
    # bytewise() is the bare column on Redshift
    daily = [r for r in records if r["origin"] == "model.mtx.fct_daily_revenue" and r["source"] == "dbt models"]
    assert daily and "count(distinct case when is_completed then player_id end)" in _flat(daily[0]["sql"])


def _documented_columns(model: str) -> list[str]:
    for path in (DBT_DIR / "models" / "marts").rglob("*.yml"):
        for node in yaml.safe_load(path.read_text()).get("models", []):
            if node["name"] == model:
                return [c["name"] for c in node.get("columns", []) if c.get("description")]
    raise AssertionError(f"{model} is not documented")


@pytest.mark.parametrize("mart", MARTS)
def test_each_mart_has_its_physical_design_comments_and_grant(records: list[dict[str, Any]], mart: str) -> None:
    mine = [r for r in records if r["origin"] == f"model.mtx.{mart}" and r["phase"] == "build, empty warehouse"]
    statements = [_flat(r["sql"]) for r in mine]
    creates = [s for s in statements if s.startswith("create table")]
    assert creates, statements
    assert all(("diststyle" in s or "distkey" in s) and "sortkey" in s for s in creates), creates
    assert f'grant select on "analytics"."analytics"."{mart}" to role mtx_analysts' in statements
    assert any(s.startswith(f'comment on table "analytics"."analytics"."{mart}" is') for s in statements)
    commented = {
        m.group(1)
        for s in statements
        if (m := re.match(rf'comment on column "analytics"."analytics"."{mart}"\.(\w+) is', s))
    }
    assert set(_documented_columns(mart)) <= commented


def test_views_are_late_binding_and_the_schema_is_granted(records: list[dict[str, Any]]) -> None:
    views = [_flat(r["sql"]) for r in records if _flat(r["sql"]).startswith("create view")]
    assert views and all(v.endswith("with no schema binding") for v in views)
    hooks = [_flat(r["sql"]) for r in records if r["source"] == "dbt hooks"]
    assert 'grant usage on schema "analytics" to role mtx_analysts' in hooks


@pytest.mark.parametrize("mart", INCREMENTAL_MARTS)
def test_the_incremental_run_merges_by_delete_and_insert(records: list[dict[str, Any]], mart: str) -> None:
    mine = [
        _flat(r["sql"]) for r in records if r["origin"] == f"model.mtx.{mart}" and r["phase"] == "build, incremental"
    ]
    target = f'"analytics"."analytics"."{mart}"'
    assert any(s.startswith(f"delete from {target} where") and "__dbt_tmp" in s for s in mine), mine
    assert any(s.startswith(f"insert into {target} (") and "__dbt_tmp" in s for s in mine), mine


def test_the_glue_merge_and_the_api_queries_are_captured(records: list[dict[str, Any]]) -> None:
    glue = [_flat(r["sql"]) for r in records if r["source"] == "glue load"]
    # the raw table's physical design on Redshift, from the Glue job and from the migrations alike
    for source in ("glue load", "migrations"):
        raw = [_flat(r["sql"]) for r in records if r["source"] == source and "table if not exists raw." in r["sql"]]
        assert raw and all(s.endswith("distkey (transaction_id) compound sortkey (loaded_at)") for s in raw), raw
    assert any(s.startswith("copy ") and "format as parquet" in s for s in glue)
    assert any(s.startswith("delete from raw.mtx_transactions using") for s in glue)
    # schema evolution of a raw table from before the Enrich stage and versions: one column per ALTER, in
    # contract order (version with its default, not null), then the primary key moved under a table lock
    from contracts.warehouse import ENRICHED, VERSIONED, column_ddl

    alters = [s for s in glue if s.startswith("alter table raw.mtx_transactions add column ")]
    assert alters == [f"alter table raw.mtx_transactions add column {column_ddl(c)}" for c in (*ENRICHED, *VERSIONED)]
    assert "alter table raw.mtx_transactions add column version integer default 1 not null" in alters
    key = glue.index("lock table raw.mtx_transactions")
    assert glue[key + 2 : key + 4] == [
        "alter table raw.mtx_transactions drop constraint mtx_transactions_pkey",
        "alter table raw.mtx_transactions add constraint mtx_transactions_pkey primary key (transaction_id, version)",
    ]
    assert any(s.startswith("delete from raw.mtx_transactions using") and "version" in s for s in glue)
    api = {r["origin"].rsplit(" ", 1)[-1] for r in records if r["source"] == "analytics api"}
    assert api == {
        "warehouse_info",
        "player_analysis",
        "revenue_analysis",
        "multi_dimensional_analytics",
        "data_integrity_analysis",
    }


def test_every_project_macro_with_a_postgres_variant_has_a_redshift_one() -> None:
    """dispatch tries redshift__, then postgres__ (dbt-redshift's parent), then default__, package by package."""
    text = "\n".join(p.read_text() for p in (DBT_DIR / "macros").rglob("*.sql"))
    postgres = set(re.findall(r"{%-?\s*macro\s+postgres__(\w+)\s*\(", text))
    redshift = set(re.findall(r"{%-?\s*macro\s+redshift__(\w+)\s*\(", text))
    assert postgres, "no postgres__ macro found: the check reads the wrong files"
    assert postgres <= redshift, f"postgres__ macros without a redshift__ variant: {sorted(postgres - redshift)}"
