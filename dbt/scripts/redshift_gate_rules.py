"""The Redshift gate's rules (``redshift_gate.py``): what PostgreSQL accepts and Amazon Redshift rejects.

``RULES``: regular expressions matched on a statement's code alone (comments, literals and
quoted names blanked), each naming what Redshift does instead; ``ast_findings``: the same
constructs looked for in sqlglot's parse tree; ``SQLGLOT_GAPS``: Redshift statements sqlglot
cannot parse, checked by the rules alone; ``DESIGN_RULES``: the physical design of what dbt
models create. ``tests/unit/test_redshift_gate.py`` proves every rule fires.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

#: pg_get_* functions Redshift has (system information functions; pg_get_userbyid
#: backs its pg_user view); any other pg_get_* is PostgreSQL's.
REDSHIFT_PG_GET = ("cols", "late_binding_view_cols", "grantee_by_iam_role", "iam_role_by_user", "viewdef", "userbyid")

#: PostgreSQL catalogue relations Redshift does not have (it has no indexes, no
#: statistics collector views, no pg_roles: svv_roles, pg_user, svv_table_info instead).
PG_ONLY_CATALOGUE = (
    "pg_index",
    "pg_indexes",
    "pg_am",
    "pg_roles",
    "pg_authid",
    r"pg_stat_\w+",
    r"pg_statio_\w+",
    "pg_matviews",
    "pg_sequences",
    "pg_settings",
    "pg_locks",
    "pg_extension",
    "pg_collation",
    "pg_partitioned_table",
    "pg_policy",
    "pg_publication",
)

#: (name, pattern, what to do instead): matched case-insensitively against the code alone.
RULES: tuple[tuple[str, str, str], ...] = (
    (
        "non-Redshift collation",
        r"\bcollate\b(?!\s+(?:case_sensitive|case_insensitive)\b)(?!\s*\()",
        "Redshift's collations are case_sensitive and case_insensitive only (COLLATE(expr, 'case_insensitive'))",
    ),
    ("regclass/oid alias cast", r"\breg(?:class|proc|procedure|type|namespace|role|oper)\b", "no OID alias types"),
    (
        "PostgreSQL-only catalogue",
        r"\b(?:" + "|".join(PG_ONLY_CATALOGUE) + r")\b",
        "Redshift has no indexes nor these catalogues (svv_*, pg_table_def, svv_roles)",
    ),
    (
        "pg_get_* outside Redshift's set",
        r"\bpg_get_(?!(?:" + "|".join(REDSHIFT_PG_GET) + r")\b)\w+\s*\(",
        "Redshift has pg_get_" + ", pg_get_".join(REDSHIFT_PG_GET) + " only",
    ),
    ("PostgreSQL index function", r"\b(?:brin|gin|gist)_\w+\s*\(", "Redshift has no indexes"),
    ("distinct on", r"\bdistinct\s+on\s*\(", "use row_number() over (...) = 1"),
    ("aggregate filter clause", r"\bfilter\s*\(\s*where\b", "use sum(case when ... then 1 else 0 end)"),
    ("on conflict", r"\bon\s+conflict\b", "delete + insert (or MERGE)"),
    ("returning clause", r"\breturning\b", "Redshift returns no rows from DML"),
    ("lateral", r"\blateral\b", "Redshift has no LATERAL joins"),
    ("array constructor", r"\barray\s*\[", "Redshift has no PostgreSQL arrays (SUPER arrays are ARRAY(...))"),
    ("array type", r"\b\w+\s*\[\s*\]", "Redshift has no array types"),
    (
        "array subscript",
        r"(?:\w|\))\s*\[\s*\d+\s*\]",
        "Redshift has no arrays (int2vector subscripts are PostgreSQL's)",
    ),
    ("= any(array)", r"\b(?:any|all)\s*\(\s*(?!\s*select\b)", "use IN (list) or IN (subquery)"),
    ("array functions", r"\b(?:array_agg|string_agg|unnest|array_length|array_to_string)\s*\(", "use listagg"),
    ("jsonb", r"\bjsonb\w*\b", "Redshift has SUPER, not jsonb"),
    ("json operator", r"->>?|#>>?|@>|<@|\?\||\?&", "use json_extract_path_text or SUPER navigation"),
    ("generated column", r"\bgenerated\s+(?:always|by\s+default)\b", "use IDENTITY(seed, step) or DEFAULT"),
    ("create index", r"\bcreate\s+(?:unique\s+)?index\b", "Redshift has no indexes: DISTKEY/SORTKEY"),
    ("index method", r"\busing\s+(?:brin|btree|gin|gist|hash|spgist)\b", "Redshift has no indexes"),
    (
        "set-returning function on compute nodes",
        r"\b(?:generate_series|regexp_matches|regexp_split_to_table|json_each\w*|json_array_elements\w*)\s*\(",
        "leader-node only or missing on Redshift: build a spine from digits, use regexp_substr/split_part",
    ),
    (
        "leader-node-only date function",
        r"\b(?:now|age|isfinite|timeofday)\s*\(|\b(?:current_time|current_timestamp|localtime|localtimestamp)\b",
        "deprecated on Redshift (leader node only): getdate() / sysdate, or compute it in the caller",
    ),
    (
        "date_trunc with a time zone",
        r"\bdate_trunc\s*\(\s*[^,()]+,[^,()]+,",
        "three-argument date_trunc is PostgreSQL's",
    ),
    (
        "interval with units outside the literal",
        r"\binterval\s+'[^']*'\s+(?:year|month|day|hour|minute|second)s?\b",
        "write interval '1 day'",
    ),
    ("unlogged table", r"\bunlogged\b", "PostgreSQL storage option"),
    ("copy from stdin", r"\bcopy\b[^;]*\bfrom\s+stdin\b", "Redshift loads with COPY ... FROM 's3://...'"),
    ("create extension", r"\bcreate\s+extension\b", "Redshift has no extensions"),
    (
        "set transaction",
        r"^\s*set\s+(?:session\s+characteristics\s+as\s+)?transaction\b",
        "not a Redshift command: BEGIN READ ONLY / START TRANSACTION READ ONLY",
    ),
    ("on commit", r"\bon\s+commit\s+(?:drop|delete|preserve)\b", "Redshift temp tables last for the session"),
    (
        "add column if not exists",
        r"\badd\s+(?:column\s+)?if\s+not\s+exists\b",
        "Redshift has none: read information_schema.columns first, then ADD COLUMN (glue_jobs/.../evolve.py)",
    ),
    (
        "several columns in one alter table",
        r"\balter\s+table\b[^;]*\badd\s+(?:column\s+)?\w+[^;]*,\s*add\b",
        "Redshift adds one column per ALTER TABLE statement",
    ),
)


#: Constructs looked for in the parsed tree: (rule name as above, test on a node).
def ast_findings(tree: exp.Expression) -> Iterator[str]:
    for node in tree.walk():
        if isinstance(node, exp.Collate):
            collation = node.expression
            name = collation.name if isinstance(collation, exp.Identifier | exp.Column | exp.Var) else collation.sql()
            if name.strip("'\"").lower() not in ("case_sensitive", "case_insensitive"):
                yield "non-Redshift collation"
        elif isinstance(node, exp.Distinct) and node.args.get("on") is not None:
            yield "distinct on"
        elif isinstance(node, exp.Filter):
            yield "aggregate filter clause"
        elif isinstance(node, exp.OnConflict):
            yield "on conflict"
        elif isinstance(node, exp.Returning):
            yield "returning clause"
        elif isinstance(node, exp.Lateral):
            yield "lateral"
        elif isinstance(node, exp.Array):
            yield "array constructor"
        elif isinstance(node, exp.Any | exp.All) and not isinstance(node.this, exp.Subquery | exp.Select):
            yield "= any(array)"
        elif isinstance(
            node,
            exp.JSONExtract | exp.JSONExtractScalar | exp.JSONBExtract | exp.JSONBExtractScalar | exp.JSONBContains,
        ):
            yield "json operator"
        elif isinstance(node, exp.Create) and str(node.args.get("kind") or "").upper() == "INDEX":
            yield "create index"


#: Redshift statements sqlglot's grammar lacks (it raises on them rather than fall back to a
#: Command): checked by the rules alone, like the Commands. Each is in Redshift's SQL reference.
SQLGLOT_GAPS: tuple[tuple[str, str], ...] = (
    (
        "BEGIN / START TRANSACTION with a mode",
        r"^\s*(?:begin|start\s+transaction)(?:\s+(?:work|transaction))?"
        r"(?:\s+isolation\s+level\s+(?:serializable|snapshot|read\s+committed))?(?:\s+read\s+(?:only|write))?\s*;?\s*$",
    ),
)


#: Physical design of what dbt models create on Redshift (statements of ``dbt models`` /
#: ``dbt materializations`` whose origin is a model): (name, applies to, required, why).
DESIGN_RULES: tuple[tuple[str, str, str, str], ...] = (
    (
        "table without a distribution style",
        r"^\s*create\s+table\b",
        r"\b(?:diststyle\s+(?:all|even|key|auto)|distkey)\b",
        "give the model a `dist` config (a join key, all, even; auto is written `diststyle auto`)",
    ),
    (
        "table without a sort key",
        r"^\s*create\s+table\b",
        r"\bsortkey\b",
        "give the model a `sort` config: the column analysts filter on (dates)",
    ),
    (
        "view not late-binding",
        r"^\s*create\s+(?:or\s+replace\s+)?view\b",
        r"\bwith\s+no\s+schema\s+binding\b",
        "views on Redshift are late-binding (`bind: false`): a rebuilt table needs no cascade",
    ),
)
