"""Trails on the map page in a real browser: off by default; switched on, playing draws a line behind moving
entities; switched off, they go."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from bench.pages import RESULTS, TENANT, create_session, eventually, msr, sign_in, status
from tests.support import RunningServer, make_token

pytestmark = pytest.mark.browser


async def trails_drawn(page: Page) -> int:
    return int(await msr(page, "trailsDrawn"))


async def test_trails_are_drawn_behind_moving_entities_when_switched_on(page: Page, ui_server: RunningServer) -> None:
    await page.goto(ui_server.url + "/")
    await sign_in(page, make_token("alice", TENANT))
    await create_session(page)
    assert await page.get_by_test_id("trails-toggle").is_checked() is False
    await page.get_by_test_id("trails-toggle").check()
    await page.get_by_test_id("trails-minutes").select_option("15")
    await page.get_by_test_id("speed").select_option("100")
    await page.get_by_test_id("play").click()
    await eventually(lambda: status(page), lambda s: s == "playing", "playback to start")
    await eventually(lambda: trails_drawn(page), lambda n: n >= 20, "trails behind the moving entities")
    await page.get_by_test_id("pause").click()
    RESULTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(RESULTS / "trails.png"))
    await page.get_by_test_id("trails-toggle").uncheck()
    assert await trails_drawn(page) == 0
