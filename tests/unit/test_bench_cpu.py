"""benchmarks/cpu.py: CPU time split by owner (product, emulator, driver, store) inside one process and
across processes. The assertions are on CPU seconds each thread or process was made to burn, never on
wall-clock time."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import pytest

from benchmarks.cpu import (
    DRIVER,
    PRODUCT,
    Meter,
    Split,
    follow_full_gc,
    follow_pools,
    instrument,
    own_children_cpu,
    postgres_cpu,
    process_cpu,
    unfollow_full_gc,
    unfollow_pools,
)
from orchestration.runtime.sfn import LambdaRegistry

pytestmark = pytest.mark.unit

BURN = 0.3  # CPU seconds each busy thread burns
SLACK = 0.15  # other threads of the test process (pytest's, the interpreter's) may add a little


def threads_cpu(split: Split) -> float:
    """The product's CPU in this process's threads: child processes are the product's too (tested below), but
    a process an earlier test left behind and that is reaped meanwhile would count here, so it is left out."""
    return split.product_cpu_s - split.children_cpu_s


def burn(seconds: float) -> None:
    """Spin until this thread has used ``seconds`` of CPU time."""
    start = time.thread_time()
    x = 0
    while time.thread_time() - start < seconds:
        x += 1


def in_thread(fn: Any) -> None:
    t = threading.Thread(target=fn)
    t.start()
    t.join()


def test_a_busy_thread_marked_product_and_an_unmarked_one_split_product_and_emulator() -> None:
    meter = Meter()

    def product() -> None:
        with meter.role(PRODUCT):
            burn(BURN)

    with meter.phase() as split:
        in_thread(product)
        in_thread(lambda: burn(BURN))  # an emulator thread: nobody marks it
    assert BURN <= threads_cpu(split) < BURN + SLACK
    assert BURN <= split.emulator_cpu_s < BURN + SLACK
    assert split.driver_cpu_s == 0.0
    assert split.process_cpu_s == pytest.approx(split.product_cpu_s + split.emulator_cpu_s, abs=SLACK)


def test_roles_nest_per_thread_a_product_call_from_a_driver_thread_is_the_products_alone() -> None:
    meter = Meter()

    def driver() -> None:
        with meter.role(DRIVER):
            burn(BURN)
            with meter.role(PRODUCT):
                burn(BURN)
            burn(BURN)

    with meter.phase() as split:
        in_thread(driver)
    assert BURN <= threads_cpu(split) < BURN + SLACK
    assert 2 * BURN <= split.driver_cpu_s < 2 * BURN + SLACK
    assert split.emulator_cpu_s < SLACK


def test_a_pool_task_is_charged_as_the_thread_that_gave_it() -> None:
    """The players table's claim threads are a handler's own pool: their CPU is the product's, not the emulator's.
    A task given by a thread in no role stays unmarked (the emulator's)."""
    meter = Meter()
    follow_pools(meter)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda _: None, range(2)))  # the pool's threads exist before the phase

            def handler() -> None:
                with meter.role(PRODUCT):
                    list(pool.map(burn, [BURN / 2, BURN / 2]))

            with meter.phase() as split:
                in_thread(handler)
                pool.submit(burn, BURN).result()  # given by this test's thread: no role
        assert BURN <= threads_cpu(split) < BURN + SLACK
        assert BURN <= split.emulator_cpu_s < BURN + SLACK
    finally:
        unfollow_pools(meter)
    with meter.phase() as after, ThreadPoolExecutor(max_workers=1) as pool, meter.role(PRODUCT):
        pool.submit(burn, BURN).result()  # unfollowed: the pool thread is unmarked again
    assert threads_cpu(after) < SLACK


def test_instrument_charges_every_registered_handler_to_the_product_once() -> None:
    registry = LambdaRegistry()
    registry.register("busy", lambda event, context: burn(event["seconds"]) or {"ok": True})
    registry.register("idle", lambda event, context: {"ok": True})
    meter = Meter()
    assert instrument(registry, meter) == 2
    assert instrument(registry, meter) == 0  # already charged: not wrapped twice
    with meter.phase() as split:
        in_thread(lambda: registry.invoke("arn:aws:lambda:eu-west-1:123456789012:function:busy", {"seconds": BURN}))
    assert BURN <= threads_cpu(split) < BURN + 0.05
    assert registry.invoke("idle", {})["Payload"] == {"ok": True}  # the answer is unchanged


def test_a_failing_handler_still_charges_its_cpu_and_fails_as_before() -> None:
    registry = LambdaRegistry()

    def fails(event: Any, context: Any) -> None:
        burn(BURN)
        raise ValueError("no")

    registry.register("fails", fails)
    meter = Meter()
    instrument(registry, meter)
    with meter.phase() as split:
        out = registry.invoke("fails", {})
    assert out["Payload"]["errorType"] == "ValueError"
    assert split.product_cpu_s >= BURN


def _busy_child(seconds: float) -> subprocess.Popen[bytes]:
    code = f"import time\ns=time.process_time()\nwhile time.process_time()-s<{seconds}: pass\n"
    return subprocess.Popen([sys.executable, "-c", code])


def test_child_processes_are_the_products_live_or_reaped() -> None:
    meter = Meter()
    with meter.phase() as split:
        child = _busy_child(BURN)
        child.wait()
    assert split.children_cpu_s >= BURN
    assert split.product_cpu_s >= BURN
    assert split.emulator_cpu_s < SLACK + 0.2  # the parent only waited (its own start-up of the child aside)
    assert own_children_cpu() >= BURN


def test_the_store_is_the_postgres_server_of_the_data_folder(tmp_path: Path) -> None:
    """postmaster.pid names the server; its CPU (and its children's) is the store's, apart from the process."""
    server = _busy_child(10 * BURN)
    try:
        (tmp_path / "postmaster.pid").write_text(f"{server.pid}\n{tmp_path}\n")
        deadline = time.monotonic() + 30
        while process_cpu(server.pid) < BURN and time.monotonic() < deadline:
            time.sleep(0.05)
        assert postgres_cpu(tmp_path) >= BURN
        assert postgres_cpu(tmp_path / "missing") == 0.0
        assert postgres_cpu(None) == 0.0
        meter = Meter(store_dir=tmp_path)
        assert meter.sample().store >= BURN
    finally:
        server.kill()
        server.wait()


def test_interleaved_rounds_add_up_to_one_phase_field_by_field() -> None:
    """The per-transaction benchmark sums its rounds (floor, workflow, floor...): every field is summed, none
    dropped, so the ratio and the CPU split are those of the whole phase."""
    one = Split(**{f.name: float(i + 1) for i, f in enumerate(fields(Split))})
    two = Split(**{f.name: 10.0 * (i + 1) for i, f in enumerate(fields(Split))})
    total = Split() + one + two
    assert asdict(total) == {f.name: 11.0 * (i + 1) for i, f in enumerate(fields(Split))}


def _collect_full() -> float:
    """A full collection on this thread; the thread CPU it took."""
    start = time.thread_time()
    gc.collect()
    return time.thread_time() - start


def test_a_full_collection_on_a_product_thread_is_charged_to_the_emulator_and_reported() -> None:
    """A full collection walks the whole heap, here the emulator's state: run on a product thread, it is moved
    to the emulator and reported (product_full_gc_s). One on a driver thread stays the driver's; after
    unfollowing, one on a product thread stays the product's."""
    heap = [[i] for i in range(1_000_000)]  # a heap a full collection has to walk (the emulator's, in a run)
    meter = Meter()
    follow_full_gc(meter)
    took: list[float] = []

    def product() -> None:
        with meter.role(PRODUCT):
            burn(BURN)
            took.append(_collect_full())

    try:
        with meter.phase() as split:
            in_thread(product)
        with meter.phase() as driver_split, meter.role(DRIVER):
            driver_took = _collect_full()
    finally:
        unfollow_full_gc(meter)
    assert took[0] > 0.02 and len(heap) == 1_000_000
    assert split.product_full_gc_s == pytest.approx(took[0], rel=0.1, abs=0.01)
    assert BURN <= threads_cpu(split) < BURN + SLACK  # the burn alone
    assert split.emulator_cpu_s >= split.product_full_gc_s - 0.01
    assert driver_split.product_full_gc_s == 0.0 and driver_split.driver_cpu_s >= driver_took - 0.01
    with meter.phase() as after:
        in_thread(product)
    assert after.product_full_gc_s == 0.0 and threads_cpu(after) >= BURN + took[-1] - 0.01
