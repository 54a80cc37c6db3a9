"""Browser tests of the web UI: one live server and one headless Chromium per module.

Chromium is Debian's (``apt-get install chromium``; .ci/run installs it), driven by
Playwright for Python through ``executable_path``: Playwright's own browser download is not
reachable here. A failing test leaves a screenshot of its page in $HANGAR_TEST_ARTIFACTS
(default: ``ui-artifacts`` under pytest's temporary directory).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.support.live import LiveServer


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Debian's chromium is missing: apt-get install -y chromium")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("ui")
    live = LiveServer(home=home, database_url=f"sqlite+aiosqlite:///{home}/h.db")
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
    )
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("HANGAR_TEST_ARTIFACTS")
    where = Path(configured) if configured else tmp_path_factory.getbasetemp() / "ui-artifacts"
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture
def context(
    browser: Browser, server: LiveServer, request: pytest.FixtureRequest, artifacts: Path
) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies); its pages are screenshotted if the test fails."""
    ctx = browser.new_context(base_url=server.endpoint, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(20_000)
    yield ctx
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.nodeid)
        for index, page in enumerate(ctx.pages):
            page.screenshot(path=str(artifacts / f"{name}-{index}.png"), full_page=True)
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
