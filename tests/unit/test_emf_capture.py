"""The local stand-in for CloudWatch's EMF extraction (orchestration/runtime/emf.py).

What could fail: an EMF line lost or cut when handlers print from many threads at once (print writes the
text and the newline separately), an ordinary line swallowed, a datum summed under the wrong dimensions.
"""

from __future__ import annotations

import sys
import threading

import pytest

from lambdas.common import metrics
from orchestration.runtime import emf

pytestmark = pytest.mark.unit


def test_lines_from_many_threads_are_kept_whole_and_summed_per_dimensions(tmp_path, capsys) -> None:
    sink = tmp_path / "emf.ndjson"

    def work(entrance: str) -> None:
        for _ in range(200):
            metrics.emit("TransactionsStored", 1, Entrance=entrance)
            print("an ordinary log line")

    with emf.capture(sink):
        threads = [threading.Thread(target=work, args=(e,)) for e in ("api", "file", "stream", "api")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    totals = emf.read(sink)
    assert totals[("TransactionsStored", (("Entrance", "api"),))] == 400
    assert totals[("TransactionsStored", (("Entrance", "file"),))] == 200
    assert totals[("TransactionsStored", (("Entrance", "stream"),))] == 200
    out = capsys.readouterr().out
    assert out.count("an ordinary log line\n") == 800 and '"_aws"' not in out
    assert sys.stdout is not None and not isinstance(sys.stdout, emf._Filter)


def test_a_cut_line_is_skipped_not_fatal(tmp_path) -> None:
    sink = tmp_path / "emf.ndjson"
    with emf.capture(sink):
        metrics.emit("DeadLettersArchived", 2)
    sink.write_text(sink.read_text() + '{"_aws": {"Cloud')
    assert emf.read(sink)[("DeadLettersArchived", ())] == 2
