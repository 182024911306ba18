"""``mtx report``: one static HTML page of the local stack's run that opens offline.

The plots (throughput per minute per entrance, dead letters by reason, stage latency, the marts'
freshness) are Vega-Lite charts built with altair and drawn to SVG by vl-convert (Vega's own renderer,
bundled in the vl-convert-python wheel), then written into the page inline: no script, no CDN, no file
beside it, a page of tens of kilobytes. The tables are ``mtx status``'s (the same document: the counts from
the business metrics, ``orchestration/cli/metrics_view.py``).

altair and vl-convert-python are in the ``local`` extra (``make venv`` installs it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import io
import json
from pathlib import Path
from typing import Any

from rich.table import Table

from orchestration.cli import output, status

WIDTH = 640


def _svg(chart: Any) -> str:
    out = io.StringIO()
    # padding: the browser's font may be wider than the one vl-convert measured the labels with
    chart.properties(padding={"left": 40, "right": 40, "top": 5, "bottom": 5}).save(out, format="svg")
    return out.getvalue()


def charts(doc: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(id, title, SVG or None when there is nothing to draw) for each plot of the page."""
    import altair as alt

    def base(rows: list[dict[str, Any]], height: int = 220) -> Any:
        return alt.Chart(alt.Data(values=rows)).properties(width=WIDTH, height=height)

    minutes = doc["throughput"]["points"]
    size = doc["throughput"]["bucket_seconds"]
    throughput = (
        base(minutes)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "at:T",
                title=f"time (UTC), {size} s buckets",
                scale=alt.Scale(type="utc"),
                axis=alt.Axis(format="%H:%M:%S"),
            ),
            y=alt.Y("per_minute:Q", title="transactions per minute"),
            color=alt.Color("entrance:N"),
            strokeDash=alt.StrokeDash("measure:N"),
        )
    )
    # the API's refusals, from the queue while the stack runs (no function publishes them: docs/observability.md)
    refused = (doc["dead_letter_queue"] or {}).get("refused_by_reason", {})
    letters = doc["dead_letters_by_reason"] + [
        {"entrance": "api (refused at the API)", "reason": reason, "count": count} for reason, count in refused.items()
    ]
    reasons = len({d["reason"] for d in letters})
    dead = (
        base(letters, height=max(60, 28 * reasons))
        .mark_bar()
        .encode(
            x=alt.X("sum(count):Q", title="dead letters", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("reason:N", sort="-x", title=None),
            color=alt.Color("entrance:N"),
        )
    )
    latency_rows = [
        {"stage": s["stage"], "percentile": p, "ms": s[f"{p}_ms"]} for s in doc["stages"] for p in ("p50", "p95")
    ]
    latency = (
        base(latency_rows, height=max(60, 40 * len(doc["stages"])))
        .mark_bar()
        .encode(
            x=alt.X("ms:Q", title="milliseconds"),
            y=alt.Y("stage:N", title=None),
            yOffset=alt.YOffset("percentile:N"),
            color=alt.Color("percentile:N"),
        )
    )
    history = [h for h in doc["refresh"]["history"] if h["freshness_minutes"] is not None]
    bars = (
        base(history, height=180)
        .mark_bar(size=14)
        .encode(
            x=alt.X("utcyearmonthdatehoursminutes(at):O", title="data check (UTC)"),
            y=alt.Y("freshness_minutes:Q", title="minutes behind"),
        )
    )
    freshness = bars + bars.mark_text(dy=-8).encode(text="freshness_minutes:Q")
    return [
        (
            "throughput",
            "Throughput: transactions received and stored per minute, per entrance",
            _svg(throughput) if minutes else None,
        ),
        ("dead-letters", "Dead letters by reason, per entrance", _svg(dead) if letters else None),
        (
            "stage-latency",
            "Stage latency (StageLatency): p50 and p95 per stage, ms",
            _svg(latency) if latency_rows else None,
        ),
        (
            "freshness",
            "Marts freshness: minutes between the newest event in the marts and each data check",
            _svg(freshness) if history else None,
        ),
    ]


def html_table(table: Table) -> str:
    """A rich table (``mtx status``'s) as an HTML table."""
    head = "".join(f"<th>{html.escape(str(c.header))}</th>" for c in table.columns)
    columns = [[str(cell) for cell in c.cells] for c in table.columns]
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='{c.justify}'>{html.escape(col[i])}</td>" for c, col in zip(table.columns, columns, strict=True)
        )
        + "</tr>"
        for i in range(table.row_count)
    )
    has_head = any(str(c.header) for c in table.columns)
    return (
        f"<table><caption>{html.escape(str(table.title or ''))}</caption>"
        f"{f'<thead><tr>{head}</tr></thead>' if has_head else ''}<tbody>{body}</tbody></table>"
    )


STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 980px; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 1rem 0; } caption { text-align: left; font-weight: 600; padding: .3rem 0; }
th, td { padding: .2rem .7rem; border-bottom: 1px solid #ddd; } th { text-align: left; background: #f4f4f4; }
td.right { text-align: right; font-variant-numeric: tabular-nums; }
.plot svg { max-width: 100%; height: auto; } .empty { color: #777; font-style: italic; }
.attention { color: #a40000; font-weight: 600; }
"""


def page(doc: dict[str, Any], generated_at: str) -> str:
    """The whole page: a header, the plots, the tables, and the document itself (for a script to read)."""
    sections = []
    for plot_id, title, svg in charts(doc):
        inner = svg if svg is not None else "<p class='empty'>nothing to draw yet in this run</p>"
        sections.append(f"<section class='plot' id='{plot_id}'><h2>{html.escape(title)}</h2>{inner}</section>")
    problems = "".join(f"<p class='attention'>attention: {html.escape(p)}</p>" for p in doc["problems"])
    state = "running" if doc["stack"]["running"] else "not running (its last run)"
    tables = "".join(html_table(t) for t in status.tables(doc))
    data = json.dumps(doc, default=str).replace("<", "\\u003c")  # JSON, and no "</script>" inside
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MTX pipeline: local run report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body><h1>MTX pipeline: local run report</h1>
<p>Stack {html.escape(state)}, home {html.escape(doc["stack"]["home"])}; generated {html.escape(generated_at)}.
Business metrics from {html.escape(doc["metrics"]["file"])} (the CloudWatch EMF lines the functions printed),
from {html.escape(str(doc["window"]["first"]))} to {html.escape(str(doc["window"]["last"]))}.</p>
{problems}
{"".join(sections)}
<h2>Status</h2>
{tables}
<script type="application/json" id="status-document">{data}</script>
</body></html>
"""


def default_path(home: Path) -> Path:
    """``<stack home>/report/index.html`` (the home whose metrics the report shows)."""
    home = Path(home).resolve()
    return status.metrics_home(home, status.stack_state(home) is not None) / "report" / "index.html"


def write(home: Path, out: Path | None = None) -> tuple[Path, dict[str, Any]]:
    doc = status.gather(home)
    path = Path(out) if out else default_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page(doc, dt.datetime.now(dt.UTC).isoformat(timespec="seconds")), encoding="utf-8")
    return path, doc


def cmd_report(args: argparse.Namespace) -> int:
    path, doc = write(args.home, args.out)
    if output.wants_json(args):
        output.emit_json({"report": str(path), "stack_running": doc["stack"]["running"]})
    else:
        print(f"report: {path}")
    return 0
