"""The benchmark's split of a handler's CPU by stage (benchmarks/stages.py): exclusive (a stage running inside
another is charged to the inner one only), a generator's steps counted where they run, the module's functions
put back after the block, and the report line's rest is the total less the stages."""

from __future__ import annotations

import gc
import time
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from benchmarks.stages import staged

pytestmark = pytest.mark.unit


def _burn(seconds: float) -> None:
    """Use ``seconds`` of this thread's CPU (thread CPU time, not wall time)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def _module() -> types.ModuleType:
    mod = types.ModuleType("fake_handler")

    def lines(n: int) -> Iterator[int]:
        for i in range(n):
            _burn(0.02)
            yield i

    def store(rows: Iterator[int]) -> int:
        return sum(1 for _ in rows)  # consumes the lines: their CPU is theirs, not the store's

    def letters() -> None:
        _burn(0.03)

    def handle() -> int:
        count = mod.store(mod.lines(5))
        mod.letters()
        _burn(0.01)  # in no stage: the rest
        return int(count)

    mod.lines, mod.store, mod.letters, mod.handle = lines, store, letters, handle
    return mod


def test_stages_are_exclusive_and_the_functions_are_put_back() -> None:
    mod = _module()
    original = (mod.lines, mod.store, mod.letters)
    with staged(mod, {"store": "store", "letters": "letters"}, {"lines": "lines"}) as stages:
        assert mod.handle() == 5
    assert (mod.lines, mod.store, mod.letters) == original
    assert stages.seconds["lines"] >= 0.1
    assert stages.seconds["letters"] >= 0.03
    assert stages.seconds["store"] < 0.05  # the lines it read are not charged to it


def test_the_line_shows_each_stage_and_the_rest() -> None:
    mod = _module()
    with staged(mod, {"letters": "letters"}, {"lines": "lines"}) as stages:
        start = time.thread_time()
        mod.handle()
        total = time.thread_time() - start
    line = stages.line("handler", total, 5)
    assert line.startswith(f"handler: {total:.2f} s of product CPU")
    assert "lines " in line and "letters " in line and "the rest" in line
    rest = total - stages.seconds["lines"] - stages.seconds["letters"]
    assert rest >= 0.01 and f"the rest (decode, ownership, metrics, logs, tracing) {rest:.2f} s" in line


def test_a_stages_pool_tasks_are_charged_to_that_stage() -> None:
    """The first purchases' claim threads: what a stage gives a thread pool counts in that stage."""
    mod = types.ModuleType("pooled_handler")
    with ThreadPoolExecutor(max_workers=2) as pool:

        def claims() -> None:
            list(pool.map(_burn, [0.05, 0.05]))

        mod.claims = claims
        with staged(mod, {"claims": "claims"}) as stages:
            mod.claims()
            pool.submit(_burn, 0.05).result()  # outside every stage: not a stage's
        stages.enter("late")  # after the block: the split no longer follows the pool
        pool.submit(_burn, 0.05).result()
        stages.leave()
    assert 0.1 <= stages.seconds["claims"] < 0.13
    assert set(stages.seconds) == {"claims", "late"}
    assert stages.seconds["late"] < 0.02  # the waiting thread's own time only


def test_a_full_collection_inside_a_stage_is_left_out_of_it_and_said() -> None:
    """A full collection walks the whole heap (the emulator's state, in a run): the meter charges it to the
    emulator, so the stage it happens in leaves it out too, and the line says how much was left out."""
    heap = [[i] for i in range(1_000_000)]
    mod = types.ModuleType("collecting_handler")
    took: list[float] = []

    def letters() -> None:
        _burn(0.03)
        start = time.thread_time()
        gc.collect()
        took.append(time.thread_time() - start)

    mod.letters = letters
    with staged(mod, {"letters": "letters"}) as stages:
        mod.letters()
    assert took[0] > 0.02 and len(heap) == 1_000_000
    assert 0.03 <= stages.seconds["letters"] < 0.03 + 0.015
    assert stages.full_gc_s == pytest.approx(took[0], rel=0.1, abs=0.01)
    assert f"full garbage collections of the shared heap, {stages.full_gc_s:.2f} s" in stages.line("h", 1.0, 1)
