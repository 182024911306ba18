"""The Redshift gate: fail on SQL that PostgreSQL accepts and Amazon Redshift rejects.

Input: what the product sends to Redshift, captured offline by ``redshift_capture.py``
(``*.jsonl``: one statement a line, ``{"source": ..., "origin": ..., "sql": ...}``), or
plain ``*.sql`` files (a file's statements, source = its folder's name). Each statement
goes through two checks:

1. **Rules**: PostgreSQL-only constructs, matched on the code alone (comments, string
   literals and quoted identifiers blanked first, so a comment that mentions
   ``generate_series`` is not a finding). Each rule names what Redshift does instead.
   ``RULES`` in ``redshift_gate_rules.py``; ``tests/unit/test_redshift_gate.py`` proves every rule fires.
2. **Parse**: sqlglot's ``redshift`` dialect must parse the statement; the parsed tree
   is searched for the constructs a regular expression can miss (a ``DISTINCT ON``,
   ``FILTER``, ``COLLATE``, ``LATERAL``, array or JSON operator written across lines or
   in another spelling). sqlglot alone is no gate: its Redshift dialect inherits
   PostgreSQL's grammar and parses ``collate "C"``, ``FILTER (WHERE ...)``,
   ``ON CONFLICT``, ``RETURNING``, arrays and jsonb operators without complaint (so does
   sqlfluff's); the rules are what reject them.
3. **Physical design** of what dbt models create (``DESIGN_RULES``, same module): every table states
   its distribution and sort key, every view is late-binding.

Prints how many statements it checked per source and exits 1 naming each finding
(source, origin, line, rule, the line's text), 0 when there is none, 2 when there was
nothing to check.

Usage: python dbt/scripts/redshift_gate.py CAPTURE_DIR_OR_FILE [...]
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from redshift_gate_rules import DESIGN_RULES, RULES, SQLGLOT_GAPS, ast_findings
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

_COMPILED = [(name, re.compile(pattern, re.IGNORECASE), why) for name, pattern, why in RULES]

#: sqlglot parses statements it has no grammar for (``create user ... password``,
#: ``grant role``, ``alter schema ... owner to``) as an opaque Command, with a warning;
#: those are checked by the rules alone, and counted as such.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Statement:
    source: str
    origin: str
    sql: str


@dataclass(frozen=True)
class Finding:
    statement: Statement
    line: int
    rule: str
    text: str
    why: str

    def __str__(self) -> str:
        where = f"{self.statement.source} {self.statement.origin}:{self.line}"
        return f"{where}: {self.rule}: {self.text.strip()[:160]}  ({self.why})"


def code_only(sql: str) -> str:
    """The SQL with comments, string literals (also $tag$ ones) and quoted identifiers blanked, newlines kept.

    Literals and quoted identifiers keep their quotes (``'   '``, ``"  "``), so a rule that
    looks at what follows a keyword still sees a literal or a name there.
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
        elif ch == "$" and (tag := re.match(r"\$(?:[A-Za-z_]\w*)?\$", sql[i:])):
            opener = tag.group(0)
            end = sql.find(opener, i + len(opener))
            end = n if end == -1 else end + len(opener)
            body = re.sub(r"[^\n]", " ", sql[i + len(opener) : max(end - len(opener), i + len(opener))])
            out.append("'" + body.ljust(end - i - 2) + "'")
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


def _with_literals(sql: str) -> str:
    """Bind placeholders (%s, %(name)s) as literals, and %% as %, so sqlglot parses what the server would run."""
    sql = re.sub(r"%\(\w+\)s|%s", "'?'", sql)
    return sql.replace("%%", "%")


@functools.lru_cache(maxsize=4096)
def _parse(sql: str) -> tuple[exp.Expression, ...] | str:
    """sqlglot's redshift parse of a statement (bind placeholders as literals), or why it failed."""
    if any(re.match(pattern, code_only(sql), re.IGNORECASE) for _, pattern in SQLGLOT_GAPS):
        return (exp.Command(this=sql.strip()),)
    try:
        return tuple(t for t in sqlglot.parse(_with_literals(sql), read="redshift") if t is not None)
    except (ParseError, TokenError) as exc:
        return (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)[:200]


def opaque(statement: Statement) -> bool:
    """True when sqlglot parses the statement only as an opaque command (the rules still apply)."""
    trees = _parse(statement.sql)
    return not isinstance(trees, str) and any(isinstance(t, exp.Command) for t in trees)


def check(statement: Statement) -> list[Finding]:
    sql = statement.sql
    lines = sql.splitlines() or [""]
    code = code_only(sql)
    found: list[Finding] = []
    seen: set[str] = set()
    for name, pattern, why in _COMPILED:
        for match in pattern.finditer(code):
            line = code.count("\n", 0, match.start()) + 1
            found.append(Finding(statement, line, name, lines[line - 1], why))
            seen.add(name)
            break  # one finding per rule and statement
    trees = _parse(sql)
    if isinstance(trees, str):
        found.append(Finding(statement, 1, "not Redshift syntax (sqlglot)", lines[0], trees))
        return found
    why_by_name = {name: why for name, _, why in RULES}
    for tree in trees:
        for name in ast_findings(tree):
            if name not in seen:
                seen.add(name)
                found.append(Finding(statement, 1, name, lines[0], why_by_name[name] + " (found in the parse tree)"))
    return found


def design(statement: Statement) -> list[Finding]:
    """Findings of DESIGN_RULES for a statement that builds a dbt model's relation."""
    if not statement.source.startswith("dbt ") or not statement.origin.startswith("model."):
        return []
    code = code_only(statement.sql)
    first = statement.sql.strip().splitlines()[0] if statement.sql.strip() else ""
    return [
        Finding(statement, 1, name, first, why)
        for name, applies, required, why in DESIGN_RULES
        if re.search(applies, code, re.IGNORECASE) and not re.search(required, code, re.IGNORECASE)
    ]


def split_statements(sql: str) -> list[str]:
    """A file's statements (on ';' outside comments, literals and quoted names); blank ones dropped."""
    code = code_only(sql)
    parts, start = [], 0
    for i, ch in enumerate(code):
        if ch == ";":
            parts.append(sql[start:i])
            start = i + 1
    parts.append(sql[start:])
    return [p for p in parts if code_only(p).strip()]


def load(paths: Iterable[Path]) -> list[Statement]:
    statements: list[Statement] = []
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix in (".jsonl", ".sql"))
        for path in files:
            if path.suffix == ".jsonl":
                for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                    if line.strip():
                        record = json.loads(line)
                        origin = record.get("origin") or f"{path.name}#{number}"
                        statements.append(Statement(record["source"], origin, record["sql"]))
            else:
                text = path.read_text(encoding="utf-8")
                for index, sql in enumerate(split_statements(text), start=1):
                    statements.append(Statement(path.parent.name, f"{path}#{index}", sql))
    return statements


def gate(statements: list[Statement]) -> tuple[Counter[str], list[Finding]]:
    counts: Counter[str] = Counter(s.source for s in statements)
    findings = [f for s in statements for f in [*check(s), *design(s)]]
    return counts, findings


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    roots = [Path(a) for a in args]
    missing = [r for r in roots if not r.exists()]
    if not roots or missing:
        print(f"nothing to check: {', '.join(map(str, missing)) or 'no path given'}", file=sys.stderr)
        return 2
    statements = load(roots)
    if not statements:
        print(f"nothing to check: no statement under {', '.join(map(str, roots))}", file=sys.stderr)
        return 2
    counts, findings = gate(statements)
    for finding in findings:
        print(finding)
    width = max(len(s) for s in counts)
    for source, count in sorted(counts.items()):
        bad = len({id(f.statement) for f in findings if f.statement.source == source})
        rules_only = sum(1 for s in statements if s.source == source and opaque(s))
        note = f" ({rules_only} by the rules alone: sqlglot has no grammar for them)" if rules_only else ""
        print(f"  {source:<{width}}  {count:>5} statement(s) checked, {bad} rejected{note}")
    total = sum(counts.values())
    if findings:
        print(f"{len(findings)} PostgreSQL-only construct(s) in {total} statement(s) sent to Redshift", file=sys.stderr)
        return 1
    print(f"Redshift SQL: {total} statement(s) checked, rules and sqlglot's redshift parse, no finding")
    return 0


if __name__ == "__main__":
    sys.exit(main())
