"""A headless Chromium with no network, for the tests that open the documentation sites a person opens.

Playwright (PyPI) drives Debian's ``chromium`` package (``apt-get install chromium``; its own
browser download is not reachable here): ``MTX_CHROMIUM`` names another binary. The browser
context is offline, and every request that is not ``file:``/``data:``/``blob:`` is aborted and
recorded, so a page that needs the internet shows it in ``OfflinePage.remote``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")


def chromium() -> str | None:
    found = os.environ.get("MTX_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return found if found and Path(found).exists() else None


@dataclass
class OfflinePage:
    page: Any
    remote: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self, path: Path, fragment: str = "") -> None:
        self.page.goto(path.resolve().as_uri() + fragment)
        self.page.wait_for_load_state("load")

    def js(self, script: str) -> Any:
        return self.page.evaluate(script)


@contextmanager
def offline_page() -> Iterator[OfflinePage]:
    """A page in an offline browser; skips the test, saying why, when no Chromium is installed."""
    binary = chromium()
    if binary is None:
        pytest.skip("no Chromium (apt-get install chromium, or set MTX_CHROMIUM): the docs were not opened")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: the tests run as root in a container, where Chromium's sandbox cannot start
        browser = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        try:
            context = browser.new_context(offline=True)
            result = OfflinePage(page=None)

            def route(route: Any) -> None:
                if route.request.url.startswith(LOCAL_SCHEMES):
                    route.continue_()
                else:
                    result.remote.append(route.request.url)
                    route.abort()

            context.route("**/*", route)
            result.page = context.new_page()
            result.page.on("pageerror", lambda error: result.errors.append(str(error)))
            yield result
        finally:
            browser.close()
