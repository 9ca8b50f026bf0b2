"""Fixtures of the browser tests: headless Chromium (Debian's, driven by Playwright), a real server with
generated map data, and a page that leaves a screenshot in test-results/e2e when its test fails."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from datetime import timedelta

import pytest
from playwright.async_api import Browser, Page, async_playwright

from app.settings import Settings
from bench.pages import CHROMIUM, CHROMIUM_ARGS, RESULTS, STATIC_BUILD, load_data
from store.datasets import DatasetSpec
from tests.support import RunningServer, serve

UI_DATA = DatasetSpec("e2e", 300, 20_000, timedelta(hours=1))
"""300 entities over the last hour, an event every 0.2 s: at 100x the picture changes every frame."""

_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"headless Chromium is not installed at {CHROMIUM} (`make test` installs it where apt-get works)")
    if not (STATIC_BUILD / "app.js").exists():
        pytest.fail("the browser UI is not built: run `make ui` (or `make test`, which builds it)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
        if request.node.stash.get(_FAILED, False):
            RESULTS.mkdir(parents=True, exist_ok=True)
            await opened.screenshot(path=str(RESULTS / f"{request.node.name}.png"))
    finally:
        await context.close()
    assert not errors, f"the page raised: {errors}"


@pytest.fixture
async def ui_server(settings: Settings) -> AsyncIterator[RunningServer]:
    assert settings.database_url is not None
    await load_data(settings.database_url, UI_DATA)
    async with serve(settings) as running:
        yield running
