"""Fail on PostgreSQL-only SQL in dbt's compiled output.

The marts run on the local PostgreSQL warehouse and on Amazon Redshift. This
scans the SQL that dbt compiled (``target/compiled`` by default: models, data
tests, unit tests, hooks) for constructs that PostgreSQL accepts and Redshift
does not, and exits 1 naming each file and line, 0 when none is found.

Comments, string literals and quoted identifiers are blanked out first, so a
comment that mentions ``generate_series`` is not a finding.

It reads SQL compiled for the local target, so what dbt's cross-database
macros dispatch to on PostgreSQL is in it too. The ones the project uses
compile to portable SQL on PostgreSQL as well (``dbt.dateadd`` to
``+ interval``, ``dbt.date_trunc`` to ``date_trunc('month', x)``). Some do not:
``dbt.datediff`` emits ``::date`` there, which is why the models compute month
differences with ``extract()`` (macro ``calendar_months_between``).

Usage: python scripts/check_portable_sql.py [COMPILED_DIR ...]
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

#: (name, pattern, why): matched case-insensitively against code only.
DENY_LIST: tuple[tuple[str, str, str], ...] = (
    ("double-colon cast", r"::", "use cast(x as type) or dbt.safe_cast"),
    ("ilike", r"\bilike\b", "use lower(x) like lower(y)"),
    ("generate_series", r"\bgenerate_series\s*\(", "runs on the Redshift leader node only; build a spine from digits"),
    ("aggregate filter clause", r"\bfilter\s*\(\s*where\b", "use sum(case when ... then 1 else 0 end)"),
    ("distinct on", r"\bdistinct\s+on\s*\(", "use row_number() over (...) = 1"),
    ("on conflict", r"\bon\s+conflict\b", "use a dbt incremental strategy"),
    ("returning clause", r"\breturning\b", "not supported by Redshift"),
    ("json operator", r"->>?|#>>?", "use json_extract_path_text"),
    ("jsonb", r"\bjsonb\b", "Redshift has SUPER, not jsonb"),
    ("array constructor", r"\barray\s*\[", "Redshift has no PostgreSQL arrays"),
    ("array/string aggregate", r"\b(array_agg|string_agg)\s*\(", "use dbt.listagg"),
    ("unnest", r"\bunnest\s*\(", "Redshift has no unnest"),
    ("lateral join", r"\blateral\b", "not supported by Redshift"),
    ("regexp_matches", r"\bregexp_matches\s*\(", "use regexp_substr"),
    ("now()", r"\bnow\s*\(\s*\)", "use dbt.current_timestamp()"),
    (
        "date_trunc with a time zone",
        r"\bdate_trunc\s*\(\s*[^,()]+,[^,()]+,",
        "three-argument date_trunc is PostgreSQL-only",
    ),
    (
        "interval with units outside the literal",
        r"\binterval\s+'[^']*'\s+(year|month|day|hour|minute|second)s?\b",
        "write interval '1 day'",
    ),
    ("unlogged table", r"\bunlogged\b", "PostgreSQL storage option"),
    ("create index", r"\bcreate\s+(unique\s+)?index\b", "Redshift has no indexes (use sort/dist configs)"),
)

_COMPILED = [(name, re.compile(pattern, re.IGNORECASE), why) for name, pattern, why in DENY_LIST]


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    name: str
    text: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.name}: {self.text.strip()}  ({self.why})"


def code_only(sql: str) -> str:
    """The SQL with comments, string literals and quoted identifiers blanked (newlines kept).

    String literals keep their quotes (``'   '``) so patterns that look at a
    literal's position still see one; their contents never match.
    """
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end == -1 else end
            out.append(" " * (end - i))
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end == -1 else end + 2
            out.append(re.sub(r"[^\n]", " ", sql[i:end]))
            i = end
        elif ch in ("'", '"'):
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # doubled quote inside the literal
                        j += 2
                        continue
                    break
                j += 1
            end = min(j + 1, n)
            body = re.sub(r"[^\n]", " ", sql[i + 1 : end - 1])
            out.append(ch + body + (ch if end - 1 > i else ""))
            i = end
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def scan_sql(sql: str, path: Path) -> Iterator[Finding]:
    original_lines = sql.splitlines()
    for number, line in enumerate(code_only(sql).splitlines(), start=1):
        for name, pattern, why in _COMPILED:
            if pattern.search(line):
                yield Finding(path, number, name, original_lines[number - 1], why)


def scan_paths(roots: Iterable[Path]) -> list[Finding]:
    findings: list[Finding] = []
    for root in roots:
        files = [root] if root.is_file() else sorted(root.rglob("*.sql"))
        for path in files:
            findings.extend(scan_sql(path.read_text(encoding="utf-8"), path))
    return findings


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    roots = [Path(a) for a in args] or [Path(__file__).resolve().parent.parent / "target" / "compiled"]
    missing = [r for r in roots if not r.exists()]
    if missing:
        print(f"nothing to scan: {', '.join(map(str, missing))} missing (run `dbt compile` first)", file=sys.stderr)
        return 2
    sql_files = [p for r in roots for p in ([r] if r.is_file() else r.rglob("*.sql"))]
    if not sql_files:
        print(f"nothing to scan: no .sql file under {', '.join(map(str, roots))}", file=sys.stderr)
        return 2
    findings = scan_paths(roots)
    for finding in findings:
        print(finding)
    if findings:
        print(f"{len(findings)} PostgreSQL-only construct(s) in compiled SQL", file=sys.stderr)
        return 1
    print(f"portable: {len(sql_files)} compiled SQL file(s), no PostgreSQL-only construct")
    return 0


if __name__ == "__main__":
    sys.exit(main())
