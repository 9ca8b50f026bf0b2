"""Bookmarks on the map page's timeline in a real browser: bookmark the current position with a note, see its
marker, click it to seek there, and find it again after a reload (it is kept on the server, per user)."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from bench.pages import RESULTS, TENANT, create_session, eventually, msr, sign_in
from tests.support import RunningServer, bearer, make_token

pytestmark = pytest.mark.browser


async def position(page: Page) -> float:
    value = await msr(page, "positionMs")
    return float(value) if value is not None else -1.0


async def seek_to_fraction(page: Page, fraction: float) -> float:
    timeline = page.get_by_test_id("seek")
    box = await timeline.bounding_box()
    assert box is not None
    start = float(await timeline.get_attribute("aria-valuemin") or 0)
    end = float(await timeline.get_attribute("aria-valuemax") or 0)
    before = (await msr(page, "counters")).get("states", 0)
    await timeline.click(position={"x": box["width"] * fraction, "y": box["height"] / 2})
    await eventually(lambda: msr(page, "counters"), lambda c: c.get("states", 0) > before, "a state after the seek")
    return end - start


async def test_a_bookmark_of_the_position_shows_on_the_timeline_and_seeks_there(
    page: Page, ui_server: RunningServer
) -> None:
    token = make_token("alice", TENANT)
    await page.goto(ui_server.url + "/")
    await sign_in(page, token)
    await create_session(page)
    span = await seek_to_fraction(page, 0.3)
    marked = await position(page)
    await page.get_by_test_id("bookmark-note").fill("convoy stops at the depot")
    await page.get_by_test_id("bookmark-add").click()
    marker = page.get_by_test_id("bookmark-marker")
    await marker.wait_for(state="visible")
    assert "convoy stops at the depot" in (await marker.get_attribute("title") or "")
    async with ui_server.client() as client:
        stored = (await client.get("/bookmarks", headers=bearer(token))).json()["data"]
    assert [b["note"] for b in stored] == ["convoy stops at the depot"]

    await seek_to_fraction(page, 0.8)
    assert abs(await position(page) - marked) > span * 0.3
    before = (await msr(page, "counters")).get("states", 0)
    await marker.click()
    await eventually(lambda: msr(page, "counters"), lambda c: c.get("states", 0) > before, "a state at the bookmark")
    assert abs(await position(page) - marked) <= 1

    RESULTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(RESULTS / "bookmarks.png"))

    # Kept on the server: a reload shows it again; another user of the tenant does not see it.
    await page.reload()
    await page.get_by_test_id("who").wait_for(state="visible")  # the page keeps its token
    await create_session(page)
    await page.get_by_test_id("bookmark-marker").wait_for(state="visible")
    async with ui_server.client() as client:
        theirs = (await client.get("/bookmarks", headers=bearer(make_token("bob", TENANT)))).json()["data"]
    assert theirs == []
