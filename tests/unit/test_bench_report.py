"""The benchmark report (benchmarks/common.py, benchmarks/table.py): the machine, and one table line per
(row, floor) with the documented columns, in markdown and JSON, with the notes under the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.common import Report
from benchmarks.cpu import Split
from benchmarks.table import COLUMNS, Floor, Row

pytestmark = pytest.mark.unit

DOCUMENTED = (
    "row", "wall s", "product CPU s", "emulator CPU s", "driver CPU s", "store CPU s", "floor", "floor wall s",
    "floor CPU s", "floor store CPU s", "wall / floor", "product CPU / floor CPU", "target",
)  # fmt: skip


def _report(tmp_path: Path) -> Report:
    report = Report(directory=tmp_path)
    stream = Split(wall_s=30.0, product_cpu_s=12.0, emulator_cpu_s=40.0, driver_cpu_s=3.0, store_cpu_s=5.0)
    floor = Split(wall_s=10.0, product_cpu_s=8.0, store_cpu_s=2.5)
    spark_floor = Split(wall_s=20.0, product_cpu_s=16.0)
    report.row(Row("stream path, 1,000 records", stream, [Floor("parse + validate + COPY", floor)], "<= 1.5x"))
    report.row(Row("Glue job", stream, [Floor("bare Spark read + write", spark_floor), Floor("DuckDB", floor)]))
    report.row(Row("no floor", Split(wall_s=1.0)))
    report.note("stream: 1000 records, lost 0, duplicated 0")
    return report


def test_the_markdown_table_has_the_documented_columns_and_one_line_per_row_and_floor(tmp_path: Path) -> None:
    assert COLUMNS == DOCUMENTED
    _report(tmp_path).write()
    md = (tmp_path / "report.md").read_text().splitlines()
    header = md.index("| " + " | ".join(DOCUMENTED) + " |")
    table = [line for line in md[header + 2 :] if line.startswith("| ")]
    assert len(table) == 4  # 1 + 2 floors + 1 without a floor
    cells = [c.strip() for c in table[0].strip("|").split("|")]
    assert len(cells) == len(DOCUMENTED)
    row = dict(zip(DOCUMENTED, cells, strict=True))
    assert row["row"] == "stream path, 1,000 records"
    assert (row["wall s"], row["product CPU s"], row["emulator CPU s"]) == ("30.00", "12.00", "40.00")
    assert (row["driver CPU s"], row["store CPU s"]) == ("3.00", "5.00")
    assert (row["floor"], row["floor wall s"], row["floor CPU s"]) == ("parse + validate + COPY", "10.00", "8.00")
    assert (row["wall / floor"], row["product CPU / floor CPU"]) == ("3.00x", "1.50x")
    assert [c.strip() for c in table[1].strip("|").split("|")][-3:-1] == ["1.50x", "0.75x"]  # vs bare Spark
    assert [c.strip() for c in table[2].strip("|").split("|")][-3:-1] == ["3.00x", "1.50x"]  # vs DuckDB
    assert [c.strip() for c in table[3].strip("|").split("|")][6] == "-"
    assert "    stream: 1000 records, lost 0, duplicated 0" in md
    assert any(line.startswith("- cpus: ") for line in md) and any(line.startswith("- cpu: ") for line in md)


def test_the_json_report_carries_the_machine_the_rows_and_the_ratios(tmp_path: Path) -> None:
    path = _report(tmp_path).write()
    doc = json.loads(path.read_text())
    assert {"cpu", "cpus", "cpus_usable", "load_average_1m"} <= set(doc["machine"])
    first = doc["rows"][0]
    for key in ("wall_s", "product_cpu_s", "emulator_cpu_s", "driver_cpu_s", "store_cpu_s"):
        assert key in first
    (floor,) = first["floors"]
    assert (floor["name"], floor["floor_wall_s"], floor["floor_product_cpu_s"]) == ("parse + validate + COPY", 10, 8)
    assert (floor["ratio_wall"], floor["ratio_product_cpu"]) == (3.0, 1.5)
    assert doc["rows"][2]["floors"] == []
    assert doc["notes"] == ["stream: 1000 records, lost 0, duplicated 0"]
