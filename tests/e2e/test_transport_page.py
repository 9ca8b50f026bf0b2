"""Step, loop and until on the map page in a real browser against a real server: the keys and the buttons move
the server's clock, the timeline shows the loop and the until, and playback pauses at the until."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from bench.pages import RESULTS, TENANT, create_session, eventually, msr, sign_in, status
from tests.support import RunningServer, make_token

pytestmark = pytest.mark.browser


async def position(page: Page) -> float:
    return float(await msr(page, "positionMs"))


async def test_keys_step_frames_loop_the_window_and_a_shift_click_pauses_playback_there(
    page: Page, ui_server: RunningServer
) -> None:
    await page.goto(ui_server.url + "/")
    await sign_in(page, make_token("alice", TENANT))
    await create_session(page)
    start = await position(page)
    # One frame at speed 1 is 100 ms of history (MSR_FRAME_INTERVAL_MS).
    await page.keyboard.press(".")
    await eventually(lambda: position(page), lambda p: abs(p - (start + 100)) < 1, "a step forward of one frame")
    await page.get_by_test_id("frame-forward").click()
    await eventually(lambda: position(page), lambda p: abs(p - (start + 200)) < 1, "a second step forward")
    await page.keyboard.press(",")
    await eventually(lambda: position(page), lambda p: abs(p - (start + 100)) < 1, "a step back")
    # The step's status (which sets the clock) comes before its diff frame: the page shows "loading" until then.
    await eventually(lambda: status(page), lambda s: s == "paused", "the page paused, its picture at the step")

    timeline = page.get_by_test_id("seek")
    await page.keyboard.press("l")
    await eventually(lambda: page.get_by_test_id("loop").get_attribute("aria-pressed"), lambda v: v == "true", "a loop")
    assert await timeline.get_attribute("data-loop")

    box = await timeline.bounding_box()
    assert box is not None
    await page.keyboard.down("Shift")
    await timeline.click(position={"x": box["width"] * 0.05, "y": box["height"] / 2})
    await page.keyboard.up("Shift")
    until_chip = page.get_by_test_id("until")
    await until_chip.wait_for(state="visible")
    until = float(await timeline.get_attribute("data-until") or "nan")
    assert until > start + 100
    RESULTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(RESULTS / "transport-loop-until.png"))

    await page.get_by_test_id("speed").select_option("100")
    await page.get_by_test_id("play").click()
    await eventually(lambda: status(page), lambda s: s == "playing", "playback to start")
    await eventually(lambda: status(page), lambda s: s == "paused", "playback to pause at the until")
    assert abs(await position(page) - until) < 1
    await until_chip.wait_for(state="hidden")
    # The loop stays; L clears it.
    await page.keyboard.press("L")
    await eventually(
        lambda: page.get_by_test_id("loop").get_attribute("aria-pressed"), lambda v: v == "false", "no loop"
    )
