"""The rows of the benchmark report: wall time and CPU time by owner, each beside its same-run floors.

A row is one measured path (the batch state machine, the stream, a Glue job...); a floor is the same work
done the simplest way in the same run (parse + validate + COPY, bare Spark read + write, the handlers called
directly). The table has one line per (row, floor); the ratios are the row's over the floor's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmarks.cpu import Split

#: the report table's columns, in order (docs/benchmarks.md describes each)
COLUMNS = (
    "row", "wall s", "product CPU s", "emulator CPU s", "driver CPU s", "store CPU s",
    "floor", "floor wall s", "floor CPU s", "floor store CPU s", "wall / floor", "product CPU / floor CPU", "target",
)  # fmt: skip


@dataclass
class Floor:
    name: str
    split: Split  # the floor's own CPU is its split's product_cpu_s (the floor's code, charged as product)

    @property
    def cpu_s(self) -> float:
        return self.split.product_cpu_s


@dataclass
class Row:
    name: str
    split: Split
    floors: list[Floor] = field(default_factory=list)
    target: str = ""
    #: throughput rows (per-transaction path): the ratio of rates, stated in ``extra``
    extra: dict[str, Any] = field(default_factory=dict)

    def ratios(self, floor: Floor) -> tuple[float | None, float | None]:
        wall = self.split.wall_s / floor.split.wall_s if floor.split.wall_s > 0 else None
        cpu = self.split.product_cpu_s / floor.cpu_s if floor.cpu_s > 0 else None
        return wall, cpu

    def to_json(self) -> dict[str, Any]:
        floors = []
        for floor in self.floors:
            wall, cpu = self.ratios(floor)
            floors.append({
                "name": floor.name, **{f"floor_{k}": v for k, v in floor.split.rounded(3).items()},
                "ratio_wall": _r(wall), "ratio_product_cpu": _r(cpu),
            })  # fmt: skip
        return {"row": self.name, **self.split.rounded(3), "floors": floors, "target": self.target, **self.extra}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value).replace("|", "\\|")


def lines(row: Row) -> list[list[Any]]:
    """The table's lines of one row: one per floor (one with empty floor columns if it has none)."""
    s = row.split
    head = [row.name, s.wall_s, s.product_cpu_s, s.emulator_cpu_s, s.driver_cpu_s, s.store_cpu_s]
    if not row.floors:
        return [[*head, None, None, None, None, None, None, row.target]]
    out = []
    for floor in row.floors:
        wall, cpu = row.ratios(floor)
        f = floor.split
        shown = [None if r is None else f"{r:.2f}x" for r in (wall, cpu)]
        out.append([*head, floor.name, f.wall_s, floor.cpu_s, f.store_cpu_s, *shown, row.target])
    return out


def markdown(rows: list[Row]) -> list[str]:
    md = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        md += ["| " + " | ".join(_cell(v) for v in line) + " |" for line in lines(row)]
    return md
