"""tests/tiers.py: a test outside the tiers stops the run before anything runs."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.unit

pytest_plugins = ["pytester"]

CONFTEST = 'import pytest\n\n@pytest.fixture\ndef stack():\n    yield "a server"\n'


def _run(pytester: pytest.Pytester, folder: str, body: str) -> pytest.RunResult:
    pytester.makeini("[pytest]\nmarkers =\n  unit: u\n  integration: i\n  e2e: e\naddopts = --strict-markers\n")
    pytester.makeconftest(CONFTEST)
    (pytester.path / folder).mkdir()
    (pytester.path / folder / "test_one.py").write_text("import pytest\n\n" + body)
    return pytester.runpytest("-p", "tests.tiers", "--rootdir", str(pytester.path), "-p", "no:cacheprovider")


def test_a_marked_test_in_its_folder_runs(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tests.tiers.TESTS_DIR", pytester.path)
    result = _run(pytester, "unit", "pytestmark = pytest.mark.unit\n\ndef test_ok():\n    assert True\n")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("folder", "body", "says"),
    [
        ("unit", "def test_unmarked():\n    pass\n", "no tier marker"),
        ("unit", "@pytest.mark.unit\n@pytest.mark.e2e\ndef test_two():\n    pass\n", "more than one tier marker"),
        ("unit", "@pytest.mark.integration\ndef test_elsewhere():\n    pass\n", "marked integration but lives in"),
        ("unit", "@pytest.mark.unit\ndef test_server(stack):\n    pass\n", "a unit test uses server fixtures (stack)"),
    ],
)
def test_a_test_outside_the_tiers_fails_the_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, folder: str, body: str, says: str
) -> None:
    monkeypatch.setattr("tests.tiers.TESTS_DIR", pytester.path)
    result = _run(pytester, folder, body)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert says in result.stderr.str()
    result.assert_outcomes()  # nothing ran
