"""The business metrics catalogue (lambdas/common/metrics.py): one definition for handlers, dashboard and alarms.

What could fail: a handler publishing a metric or a dimension nobody declared (and nobody graphs), an EMF
line without the environment or with a wrong unit, the monitoring module's metrics.json drifting from the
catalogue (the dashboard and alarms would read stale names), an alarm on a metric with dimensions (an alarm
cannot SEARCH them), or an alarm without its runbook line in docs/runbook.md.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from lambdas.common import metrics

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


def _emf_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


def test_emit_writes_one_emf_line_with_the_environment_and_the_declared_dimensions(capsys) -> None:
    metrics.emit("TransactionsRejected", 3, Entrance="file", Reason="InvalidTransaction")
    (line,) = _emf_lines(capsys)
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == metrics.NAMESPACE
    assert directive["Metrics"] == [{"Name": "TransactionsRejected", "Unit": "Count"}]
    assert set(directive["Dimensions"][0]) == {"Environment", "Entrance", "Reason"}
    assert line["TransactionsRejected"] == [3.0] or line["TransactionsRejected"] == 3.0
    assert line["Entrance"] == "file" and line["Reason"] == "InvalidTransaction" and line["Environment"]


@pytest.mark.parametrize(
    ("name", "dims"),
    [("TransactionsSold", {"Entrance": "api"}), ("TransactionsStored", {}), ("TransactionsStored", {"Game": "x"})],
)
def test_emit_refuses_what_the_catalogue_does_not_declare(name: str, dims: dict[str, str], capsys) -> None:
    with pytest.raises(metrics.UnknownMetric):
        metrics.emit(name, 1, **dims)
    assert _emf_lines(capsys) == []


def test_an_alarmed_metric_cannot_have_dimensions() -> None:
    with pytest.raises(ValueError, match="an alarmed metric"):
        metrics.Metric("X", "Count", "x", ("Entrance",), ("f",), "w", alarm=metrics.Alarm("x", "x", "x", 0))


def test_the_monitoring_module_reads_the_catalogue_as_it_is() -> None:
    spec = importlib.util.spec_from_file_location("mondef", REPO / "infra" / "scripts" / "monitoring_definition.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.TARGET.read_text() == module.render(), (
        "infra/terraform/modules/monitoring/metrics.json is out of date: python infra/scripts/monitoring_definition.py"
    )


def test_every_alarm_has_its_runbook_line() -> None:
    runbook = (REPO / "docs" / "runbook.md").read_text()
    for metric in metrics.CATALOGUE:
        if metric.alarm is not None:
            assert f"`{metric.alarm.name}`" in runbook, f"docs/runbook.md has no line for the alarm {metric.alarm.name}"


def test_every_emitting_function_exists() -> None:
    for metric in metrics.CATALOGUE:
        for function in metric.emitted_by:
            assert (REPO / "lambdas" / function / "handler.py").exists(), f"{metric.name}: no function {function}"


#: What each helper of lambdas/common/metrics.py publishes (checked against the helper itself below).
HELPERS = {
    "batch_outcome": {"TransactionsReceived", "RecordsPerBatch", "TransactionsStored", "DuplicatesIgnored",
                      "RecordsQuarantined", "DeadLettered", "TransactionsRejected"},
    "rejected": {"TransactionsRejected"},
    "dead_lettered": {"DeadLettered", "TransactionsRejected"},
    "stage": {"StageLatency"},
}  # fmt: skip


#: What lambdas/common/realtime.py's writers publish for the function that calls them.
REALTIME_WRITER_METRICS = {"RealtimeAggregateWrites"}


def _calls_realtime_writer(func: object) -> bool:
    import ast

    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in {"apply_version", "apply_versions", "apply_realtime"}  # apply_realtime: the bulk paths' wrapper


def _emitted_by_source(function: str) -> set[str]:
    """The metric names a function's own modules publish: emit("Name", ...) and the helpers' names."""
    import ast

    names: set[str] = set()
    for path in (REPO / "lambdas" / function).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _calls_realtime_writer(node.func):
                names |= REALTIME_WRITER_METRICS
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if not (isinstance(node.func.value, ast.Name) and node.func.value.id == "metrics"):
                continue
            if node.func.attr == "emit":
                first = node.args[0]
                assert isinstance(first, ast.Constant), f"{path}: emit() names its metric literally"
                names.add(str(first.value))
            else:
                names |= HELPERS.get(node.func.attr, set())
    return names


def test_the_helpers_publish_what_the_table_above_says(capsys) -> None:
    letters = [{"error": {"Error": "InvalidTransaction"}}, {"error": {"Error": "DatabaseRejected"}}]
    metrics.batch_outcome("file", records=5, stored=2, duplicates=1, quarantined=1, letters=letters)
    with metrics.stage("X"):
        pass
    metrics.rejected("api", "PriceMismatch")
    metrics.dead_lettered("api", letters)
    published = {m["Name"] for line in _emf_lines(capsys) for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert published == set().union(*HELPERS.values())


def test_every_catalogued_metric_is_published_by_the_functions_it_names_and_by_no_other() -> None:
    functions = sorted(p.parent.name for p in (REPO / "lambdas").glob("*/handler.py"))
    emitted = {f: _emitted_by_source(f) for f in functions}
    for metric in metrics.CATALOGUE:
        for function in metric.emitted_by:
            assert metric.name in emitted[function], f"{function} does not publish {metric.name}"
    for function, names in emitted.items():
        for name in names:
            assert name in metrics.BY_NAME, f"{function} publishes {name}, which the catalogue does not declare"
            assert function in metrics.BY_NAME[name].emitted_by, f"{name}: emitted_by misses {function}"


def test_the_realtime_writers_publish_what_the_table_above_says() -> None:
    """lambdas/common/realtime.py publishes REALTIME_WRITER_METRICS for the function that calls it (no handler of
    its own: the catalogue names its callers, and the scan above counts a call of apply_version(s) as publishing)."""
    import ast

    tree = ast.parse((REPO / "lambdas" / "common" / "realtime.py").read_text())
    emitted = {
        str(node.args[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "emit"
        and isinstance(node.args[0], ast.Constant)
    }  # fmt: skip
    assert emitted == REALTIME_WRITER_METRICS
    assert set(metrics.BY_NAME["RealtimeAggregateWrites"].emitted_by) == set(metrics.REALTIME_WRITERS)
