"""Skipping quiet time on the map page in a real browser against a real server: the timeline shades the quiet
stretch (from GET /replay/gaps), the toggle (and K) makes play skip it, and the page receives the skip frame."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page

from app.settings import Settings
from bench.pages import RESULTS, TENANT, create_session, eventually, load_data, msr, sign_in, status
from store.pool import Database, PoolConfig
from store.rollup import refresh_rollup
from tests.e2e.conftest import UI_DATA
from tests.support import RunningServer, make_token, serve

pytestmark = pytest.mark.browser


@pytest.fixture
async def quiet_server(settings: Settings) -> AsyncIterator[RunningServer]:
    """The page's data with a quarter of an hour taken out of its middle, rolled up."""
    assert settings.database_url is not None
    await load_data(settings.database_url, UI_DATA)
    now = datetime.now(UTC)
    db = Database(PoolConfig(dsn=settings.database_url, min_size=1, max_size=2))
    await db.open()
    try:
        async with db.connection() as conn:
            await conn.execute(
                "DELETE FROM events WHERE tenant_id = $1 AND event_timestamp > $2 AND event_timestamp < $3",
                TENANT,
                now - timedelta(minutes=40),
                now - timedelta(minutes=25),
            )
        await refresh_rollup(db, now, timedelta(0))
    finally:
        await db.close()
    async with serve(settings) as running:
        yield running


async def test_the_timeline_shades_a_quiet_stretch_and_the_toggle_makes_play_jump_it(
    page: Page, quiet_server: RunningServer
) -> None:
    await page.goto(quiet_server.url + "/")
    await sign_in(page, make_token("alice", TENANT))
    await create_session(page)
    timeline = page.get_by_test_id("seek")
    shaded = await eventually(lambda: timeline.get_attribute("data-gaps"), bool, "the quiet stretch to be shaded")
    assert shaded is not None
    stretches = [tuple(float(edge) for edge in gap.split("-")) for gap in shaded.split()]
    assert len(stretches) == 1
    quiet_from, quiet_to = stretches[0]
    assert 14 * 60_000 < quiet_to - quiet_from < 16 * 60_000

    toggle = page.get_by_test_id("skip-gaps")
    await toggle.click()
    assert await toggle.get_attribute("aria-pressed") == "true"
    await page.keyboard.press("k")
    assert await toggle.get_attribute("aria-pressed") == "false"
    await page.keyboard.press("K")
    assert await toggle.get_attribute("aria-pressed") == "true"
    RESULTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(RESULTS / "skip-gaps.png"))

    await page.get_by_test_id("speed").select_option("1000")
    await page.get_by_test_id("play").click()
    await eventually(lambda: status(page), lambda s: s == "playing", "playback to start")
    await eventually(lambda: msr(page, "counters"), lambda c: c.get("skips", 0) >= 1, "a skip frame", timeout=30)
    position = float(await msr(page, "positionMs"))
    assert position >= quiet_to - 1
