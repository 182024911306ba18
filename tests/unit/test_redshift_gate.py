"""The Redshift gate (dbt/scripts/redshift_gate.py) rejects what Redshift rejects, and only that.

What could fail: a rule that never fires (every rule has an example here, and a rule
without one fails the suite); a rule that fires on a comment, a string literal, a quoted
name or a dollar-quoted comment text; a construct the regular expressions miss but the
parse tree shows; an unparseable statement let through; and the finding that started
issue #21: the `collate "C"` and the `pg_index` query the project sent to Redshift before
its dispatch was fixed (a fixture captured from that project) must fail the gate.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import sqlglot

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "redshift_sql"


SCRIPTS = REPO_ROOT / "dbt" / "scripts"


def _load(name: str) -> ModuleType:
    # a script imports its sibling modules (redshift_gate -> redshift_gate_rules), as when run from its folder
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gate = _load("redshift_gate")
rules = _load("redshift_gate_rules")

#: rule -> a statement PostgreSQL runs and Redshift rejects because of it
FIRES: dict[str, str] = {
    "non-Redshift collation": 'select count(distinct (player_id) collate "C") from fct',
    "regclass/oid alias cast": "select brin_summarize_new_values('raw.mtx_transactions_brin'::regclass)",
    "PostgreSQL-only catalogue": "select count(*) from pg_index as i join pg_class as c on c.oid = i.indrelid",
    "pg_get_* outside Redshift's set": "select pg_get_indexdef(indexrelid) from some_catalogue",
    "PostgreSQL index function": "select brin_summarize_range('i', 0)",
    "distinct on": "select distinct on (player_id) player_id, event_at from fct order by player_id, event_at",
    "aggregate filter clause": "select count(*) filter (where is_completed) from fct",
    "on conflict": "insert into t (a) values (1) on conflict (a) do nothing",
    "returning clause": "delete from t where a = 1 returning a",
    "lateral": "select * from t cross join lateral (select 1 as b) as s",
    "array constructor": "select array[1, 2] as a",
    "array type": "create table t (tags text[])",
    "array subscript": "select indkey[0] from catalogue_copy",
    "= any(array)": "select * from t where schema_name = any('{raw,analytics}')",
    "array functions": "select string_agg(item_id, ',') from fct",
    "jsonb": "select cast(payload as jsonb) from t",
    "json operator": "select payload ->> 'user_id' from t",
    "generated column": "create table t (id bigint generated always as identity, a int)",
    "create index": "create index fct_loaded_at on fct (loaded_at)",
    "index method": "alter table t add constraint c exclude using gist (a with =)",
    "set-returning function on compute nodes": "select d from generate_series(1, 10) as d join t on t.n = d",
    "leader-node-only date function": "select max(loaded_at), now() - max(loaded_at) from raw.mtx_transactions",
    "date_trunc with a time zone": "select date_trunc('day', event_at, 'UTC') from fct",
    "interval with units outside the literal": "select event_at + interval '1' day from fct",
    "unlogged table": "create unlogged table t (a int)",
    "copy from stdin": "copy raw.stage (a, b) from stdin (format csv)",
    "create extension": "create extension if not exists pgcrypto",
    "on commit": "create temp table s (a int) on commit drop",
    "set transaction": "set transaction read only",
    "add column if not exists": "alter table raw.mtx_transactions add column if not exists country char(2)",
    "several columns in one alter table": "alter table raw.t add column a numeric(18,4), add column b date",
}

#: Redshift SQL the gate must let through (dbt-redshift's own forms among them)
PASSES = (
    "select collate(item_name, 'case_insensitive') from dim_items",
    "create table t (a varchar(10) collate case_insensitive)",
    'select count(distinct player_id) from "analytics"."analytics"."fct_transactions"',
    "select datediff(day, rate_date, next_rate_date) from rates",
    "select max(loaded_at) as max_loaded_at, getdate() as snapshotted_at from raw.mtx_transactions",
    'comment on column t.a is $dbt_comment_literal_block$now() collate "C" array[1]$dbt_comment_literal_block$',
    'select 1 -- a comment that says generate_series( and collate "C"\nfrom t',
    "select 'filter (where x)' as text_not_code, \"returning\" from t",
    "select a from t where a in (select b from u) union all (select c from v)",
    "select a from t where a = any (select b from u)",
    "create table t (a int) diststyle key distkey (a) compound sortkey(a)",
    'create view "db"."s"."v" as (select 1 as a) with no schema binding',
    'grant select on "db"."s"."t" to ROLE mtx_analysts',
    "delete from raw.t using stage where raw.t.id = stage.id",
    "copy stage from 's3://bucket/prefix/' iam_role 'arn:aws:iam::1:role/r' format as parquet",
    "select pg_get_late_binding_view_cols()",
    "begin read only",
    "set local statement_timeout = 25000",
    "alter table raw.mtx_transactions add column amount_usd numeric(18,4)",
)


def _rules(sql: str) -> set[str]:
    return {f.rule for f in gate.check(gate.Statement("test", "example", sql))}


def test_every_rule_has_an_example() -> None:
    assert {name for name, _, _ in rules.RULES} == set(FIRES)


@pytest.mark.parametrize("rule", sorted(FIRES))
def test_rule_fires(rule: str) -> None:
    assert rule in _rules(FIRES[rule])


@pytest.mark.parametrize("sql", PASSES)
def test_redshift_sql_passes(sql: str) -> None:
    assert _rules(sql) == set()


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        ('select (a) collate "C" from t', "non-Redshift collation"),
        ("select count(*) filter (where a) from t", "aggregate filter clause"),
        ("select distinct on (a) a from t", "distinct on"),
        ("insert into t values (1) on conflict do nothing", "on conflict"),
        ("insert into t values (1) returning a", "returning clause"),
        ("select * from t, lateral (select 1) as s", "lateral"),
        ("select array[1, 2]", "array constructor"),
        ("select x from t where x = any(array['a'])", "= any(array)"),
        ("select b ->> 'x' from t", "json operator"),
        ("create index i on t (a)", "create index"),
    ],
)
def test_the_parse_tree_shows_the_construct_too(sql: str, rule: str) -> None:
    """The second line of defence: found in sqlglot's tree, whatever the spelling."""
    (tree,) = sqlglot.parse(sql, read="redshift")
    assert rule in set(rules.ast_findings(tree))


def test_what_sqlglot_cannot_parse_is_a_finding() -> None:
    assert "not Redshift syntax (sqlglot)" in _rules("select (1 from t")


def test_findings_name_the_line() -> None:
    sql = 'select\n  a,\n  b collate "C"\nfrom t'
    (finding,) = gate.check(gate.Statement("dbt models", "model.mtx.x", sql))
    assert (finding.line, finding.rule) == (3, "non-Redshift collation")
    assert str(finding).startswith("dbt models model.mtx.x:3: non-Redshift collation: b collate")


def test_sql_files_are_split_into_statements(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.sql").write_text("select ';' as a;\n-- x; y\nselect 2;\n\n")
    statements = gate.load([tmp_path])
    assert [s.sql.strip() for s in statements] == ["select ';' as a", "-- x; y\nselect 2"]
    assert {s.source for s in statements} == {"src"}


def test_the_project_before_its_dispatch_fix_fails_the_gate(capsys: pytest.CaptureFixture[str]) -> None:
    """Captured from the project as it was (issue #21): collate "C" in fct_daily_revenue, pg_index in `unique`."""
    fixture = FIXTURES / "before_dispatch_fix.jsonl"
    assert 'collate \\"C\\"' in fixture.read_text()
    assert gate.main([str(fixture)]) == 1
    out = capsys.readouterr().out
    assert "model.mtx.fct_daily_revenue" in out and "non-Redshift collation" in out
    assert "test.mtx.unique_fct_transactions_transaction_id" in out and "PostgreSQL-only catalogue" in out
    assert "dbt tests" in out and "statement(s) checked, 1 rejected" in out


def test_the_gate_counts_per_source_and_passes_clean_sql(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "glue load").mkdir()
    (tmp_path / "glue load" / "merge.sql").write_text(
        "delete from raw.t using s where raw.t.id = s.id;\ninsert into raw.t select * from s;\n"
    )
    (tmp_path / "analytics api").mkdir()
    (tmp_path / "analytics api" / "q.sql").write_text("select max(loaded_at) from raw.t\n")
    assert gate.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "glue load" in out and "2 statement(s) checked, 0 rejected" in out
    assert "analytics api" in out and "1 statement(s) checked, 0 rejected" in out


def test_nothing_to_check_is_an_error(tmp_path: Path) -> None:
    assert gate.main([str(tmp_path)]) == 2
    assert gate.main([str(tmp_path / "missing")]) == 2


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        ('create table "a"."b"."fct" (a int) compound sortkey(a)', "table without a distribution style"),
        ('create table "a"."b"."fct" diststyle even as (select 1 as a)', "table without a sort key"),
        ('create view "a"."b"."v__dbt_tmp" as (select 1 as a)', "view not late-binding"),
    ],
)
def test_design_rules_fire_on_model_relations(sql: str, rule: str) -> None:
    statement = gate.Statement("dbt models", "model.mtx.fct", sql)
    assert [f.rule for f in gate.design(statement)] == [rule]
    # not a model's relation (the Glue job's tables, a seed): not a design finding
    assert gate.design(gate.Statement("glue load", "glue_jobs/flatten_transactions/job.py", sql)) == []


def test_design_rules_pass_a_designed_table_and_a_late_binding_view() -> None:
    for sql in (
        'create table "a"."b"."fct" (a int not null) diststyle key distkey (a) compound sortkey(a)',
        'create table "a"."b"."dim" diststyle auto sortkey auto as (select 1 as a)',
        'create view "a"."b"."v__dbt_tmp" as (select 1 as a) with no schema binding',
        'create temporary table "x__dbt_tmp" diststyle all compound sortkey(a) as (select 1 as a)',
    ):
        assert gate.design(gate.Statement("dbt models", "model.mtx.fct", sql)) == [], sql
