"""stack.env and the password files: a reader never sees a part of the file, nor a moment when others may read it."""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from orchestration.runtime.private_file import write_private

pytestmark = pytest.mark.unit


def test_the_file_is_private_from_its_first_moment(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which would leave a plain write readable by everyone
    try:
        path = tmp_path / "stack.env"
        write_private(path, 'export MTX_PRODUCER_KEY="k"\n')
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == 'export MTX_PRODUCER_KEY="k"\n'
    assert [p.name for p in tmp_path.iterdir()] == ["stack.env"]  # no temporary file left


def test_a_reader_polling_for_the_file_sees_all_of_it_or_nothing(tmp_path: Path) -> None:
    # `mtx up`'s waiters poll for stack.env and read it as soon as it exists (a CI run once read it empty)
    path = tmp_path / "stack.env"
    texts = ["".join(f'export MTX_VAR_{i}_{n}="{"x" * 200}"\n' for n in range(400)) for i in range(2)]
    seen: set[str] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            with contextlib.suppress(FileNotFoundError):
                seen.add(path.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for round_ in range(150):
            if round_ % 2:
                path.unlink(missing_ok=True)  # the file appears anew, as stack.env does when `mtx up` starts
            write_private(path, texts[round_ % 2])
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:  # the reader may not have run yet on a busy box
            time.sleep(0.01)
    finally:
        done.set()
        reader.join()
    assert seen and seen <= set(texts)
