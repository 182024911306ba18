"""Great Expectations Data Docs render in a browser with no network (expectations/offline_docs.py).

GE's own pages load jQuery, Bootstrap and bootstrap-table from CDNs: offline the index table
is empty. The same site after ``make_offline`` draws the index table and the validation-result
tables from the vendored files, with no request leaving the machine.

Needs Chromium (Debian's package; tests/browser.py) and no server: the site is built from a
pandas frame with the project's docs site settings. Cost: ~4 s to build, ~2 s per page opened.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd
import pytest

from expectations.checkpoint import DOCS_SITE, ephemeral_context
from expectations.offline_docs import make_offline
from tests.browser import offline_page

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(as GE builds it, after make_offline): one validation with a passing and a failing expectation."""
    cdn = tmp_path_factory.mktemp("ge-docs-cdn")
    context = ephemeral_context(cdn)
    frame = context.data_sources.add_pandas("frames").add_dataframe_asset("transactions")
    batch = frame.add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(
        gx.ExpectationSuite(
            name="warehouse.transactions",
            expectations=[
                gxe.ExpectColumnValuesToNotBeNull(column="transaction_id"),
                gxe.ExpectColumnValuesToBeBetween(column="price_amount", min_value=0.01),
            ],
        )
    )
    validation = context.validation_definitions.add(gx.ValidationDefinition(name="v", data=batch, suite=suite))
    checkpoint = context.checkpoints.add(gx.Checkpoint(name="c", validation_definitions=[validation], actions=[]))
    checkpoint.run(
        batch_parameters={"dataframe": pd.DataFrame({"transaction_id": ["t1", "t2"], "price_amount": [4.99, -1.0]})}
    )
    context.build_data_docs(site_names=[DOCS_SITE])
    offline = tmp_path_factory.mktemp("ge-docs-offline") / "site"
    shutil.copytree(cdn, offline)
    assert make_offline(offline) == len(list(offline.rglob("*.html")))
    return cdn, offline


def test_as_ge_builds_it_the_index_table_is_empty_offline(sites: tuple[Path, Path]) -> None:
    """The finding of issue #21, reproduced: without the vendored assets nothing draws the table."""
    cdn, _ = sites
    with offline_page() as browser:
        browser.open(cdn / "index.html")
        assert browser.remote, "GE's pages were expected to ask the CDNs for their scripts"
        assert browser.js("typeof window.jQuery") == "undefined"
        assert browser.js("document.querySelectorAll('table tbody tr').length") == 0


def test_the_index_and_the_validation_result_are_drawn_offline(sites: tuple[Path, Path]) -> None:
    _, offline = sites
    (result_page,) = (offline / "validations").rglob("*.html")
    with offline_page() as browser:
        browser.open(offline / "index.html")
        assert browser.js("typeof jQuery.fn.bootstrapTable") == "function"
        rows = browser.js("Array.from(document.querySelectorAll('table tbody tr')).map(r => r.innerText)")
        assert any("warehouse.transactions" in row for row in rows), rows

        browser.open(result_page)
        text = browser.js("document.body.innerText")
        assert "Unsuccessful Expectations" in text and "transaction_id" in text
        # the expectations' table is bootstrap-table's (sortable, searchable), one row per expectation
        assert browser.js("document.querySelectorAll('.bootstrap-table table tbody tr').length") >= 2
        assert browser.remote == [] and browser.errors == []
