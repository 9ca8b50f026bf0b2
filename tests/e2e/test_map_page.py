"""The map page in a real browser against a real server: sign in, create a session, play, pause, seek, speed,
the session-limit dialog, reconnecting, and nothing fetched from outside the server."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, Request

from app.settings import Settings
from bench.pages import TENANT, CuttableProxy, create_session, entity_count, eventually, msr, sign_in, status
from tests.support import RunningServer, bearer, make_token, serve

pytestmark = pytest.mark.browser

OBSERVE_S = 1.5
"""How long a paused picture is watched for any change."""


async def position(page: Page) -> float:
    value = await msr(page, "positionMs")
    return float(value) if value is not None else -1.0


async def samples(page: Page) -> list[object]:
    return list(await msr(page, "sample", 50))


async def open_signed_in(page: Page, server: RunningServer, token: str) -> None:
    await page.goto(server.url + "/")
    await sign_in(page, token)


async def test_signed_in_user_creates_a_session_and_plays_moving_entities(page: Page, ui_server: RunningServer) -> None:
    await open_signed_in(page, ui_server, make_token("alice", TENANT))
    await create_session(page)
    # The status saying paused can come before the first state is drawn (seen with three workers' load beside it).
    await eventually(lambda: entity_count(page), lambda n: n >= 1, "the first state on the map")
    await page.get_by_test_id("speed").select_option("100")
    before_position = await position(page)
    before = await samples(page)
    await page.get_by_test_id("play").click()
    await eventually(lambda: status(page), lambda s: s == "playing", "playback to start")
    await eventually(lambda: entity_count(page), lambda n: n >= 250, "entities to appear as the hour plays")
    await eventually(lambda: samples(page), lambda now: now != before, "entities to move")
    assert await position(page) > before_position
    clock = await page.get_by_test_id("position").inner_text()
    assert clock[:4].isdigit(), clock


async def test_pause_freezes_the_clock_and_the_picture(page: Page, ui_server: RunningServer) -> None:
    await open_signed_in(page, ui_server, make_token("alice", TENANT))
    await create_session(page)
    await page.get_by_test_id("speed").select_option("100")
    await page.get_by_test_id("play").click()
    await eventually(lambda: entity_count(page), lambda n: n >= 100, "entities to appear")
    await page.get_by_test_id("pause").click()
    await eventually(lambda: status(page), lambda s: s == "paused", "playback to pause")
    clock = await page.get_by_test_id("position").inner_text()
    picture = await samples(page)
    count = await entity_count(page)
    await page.wait_for_timeout(OBSERVE_S * 1000)
    assert await page.get_by_test_id("position").inner_text() == clock
    assert await samples(page) == picture
    assert await entity_count(page) == count


async def test_clicking_the_timeline_seeks_there_and_shows_that_state(page: Page, ui_server: RunningServer) -> None:
    await open_signed_in(page, ui_server, make_token("alice", TENANT))
    await create_session(page)
    timeline = page.get_by_test_id("seek")
    box = await timeline.bounding_box()
    assert box is not None
    start = float(await timeline.get_attribute("aria-valuemin") or 0)
    end = float(await timeline.get_attribute("aria-valuemax") or 0)
    states_before = (await msr(page, "counters")).get("states", 0)
    await timeline.click(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    target = start + 0.75 * (end - start)
    await eventually(
        lambda: msr(page, "counters"), lambda c: c.get("states", 0) > states_before, "a fresh state after the seek"
    )
    assert abs(await position(page) - target) < (end - start) * 0.01
    # Three quarters into the hour every entity has been created at least once.
    assert await entity_count(page) >= 250
    assert await status(page) == "paused"


async def test_speed_and_keyboard_control_playback(page: Page, ui_server: RunningServer) -> None:
    await open_signed_in(page, ui_server, make_token("alice", TENANT))
    await create_session(page)
    await page.get_by_test_id("speed").select_option("10")
    await page.locator("body").press(" ")
    await eventually(lambda: status(page), lambda s: s == "playing", "space to start playback")
    first = await position(page)
    await page.wait_for_timeout(1000)
    slow = await position(page) - first
    await page.locator("body").press("+")
    await page.locator("body").press("+")
    assert await page.get_by_test_id("speed").input_value() == "50"
    await eventually(lambda: msr(page, "playState"), lambda s: s == "playing", "playing at the new speed")
    second = await position(page)
    await page.wait_for_timeout(1000)
    fast = await position(page) - second
    # 10x then 50x: about 10 s and 50 s of data per second of wall time.
    assert 5_000 < slow < 20_000, slow
    assert fast > 2.5 * slow, (slow, fast)
    await page.locator("body").press(" ")
    await eventually(lambda: status(page), lambda s: s == "paused", "space to pause")
    paused_at = await position(page)
    await page.locator("body").press("ArrowLeft")
    await eventually(lambda: position(page), lambda p: p < paused_at - 10_000, "the left arrow to step back")


async def test_session_limit_dialog_terminates_a_session_and_creates_the_new_one(
    page: Page, ui_server: RunningServer
) -> None:
    admin = make_token("olive", TENANT, admin=True)
    alice = make_token("alice", TENANT)
    async with ui_server.client() as client:
        response = await client.put("/admin/settings", json={"max_active_sessions": 1}, headers=bearer(admin))
        assert response.status_code == 200, response.text
        response = await client.post("/session", headers=bearer(alice))
        assert response.status_code == 201, response.text
        occupied = response.json()["data"]["id"]
    # Alice's first session was made by another tab of this browser: the page knows it.
    await page.goto(ui_server.url + "/")
    await page.evaluate("(id) => localStorage.setItem('msr.knownSessions', JSON.stringify([id]))", occupied)
    await sign_in(page, alice)
    await page.get_by_test_id("session-create").click()
    dialog = page.get_by_test_id("limit-dialog")
    await dialog.wait_for(state="visible")
    assert "Correlation ID" in await dialog.inner_text()
    await dialog.locator(f"[data-testid=terminate-session][data-session-id='{occupied}']").click()
    await dialog.wait_for(state="detached")
    await eventually(lambda: status(page), lambda s: s == "paused", "the new session to attach")
    created = (await msr(page, "session"))["id"]
    assert created != occupied
    async with ui_server.client() as client:
        listed = await client.get("/admin/sessions", params={"status": "ACTIVE"}, headers=bearer(admin))
    assert [row["id"] for row in listed.json()["data"]] == [created]


async def test_a_dropped_connection_reconnects_and_resumes_without_a_fresh_state(
    page: Page, ui_server: RunningServer
) -> None:
    proxy = CuttableProxy(int(ui_server.url.rsplit(":", 1)[1]))
    await proxy.start()
    try:
        await page.goto(proxy.url + "/")
        await sign_in(page, make_token("alice", TENANT))
        await create_session(page)
        await page.get_by_test_id("speed").select_option("100")
        await page.get_by_test_id("play").click()
        await eventually(lambda: msr(page, "lastSeq"), lambda seq: seq > 5, "frames to arrive")
        states = (await msr(page, "counters")).get("states", 0)
        seq_before = await msr(page, "lastSeq")
        assert proxy.cut() >= 1
        await eventually(lambda: msr(page, "reconnects"), lambda n: n >= 1, "the page to notice the drop")
        await eventually(
            lambda: msr(page, "counters"), lambda c: c.get("resumes", 0) >= 1, "a resume after reconnecting"
        )
        await eventually(lambda: msr(page, "lastSeq"), lambda seq: seq > seq_before + 5, "frames to flow again")
        assert (await msr(page, "counters")).get("states", 0) == states, "the resume replayed the missed frames"
        assert (await msr(page, "counters")).get("gaps", 0) == 0
        assert await status(page) == "playing"
    finally:
        await proxy.close()


async def test_the_page_fetches_nothing_from_outside_the_server(page: Page, ui_server: RunningServer) -> None:
    requested: list[str] = []

    def note(request: Request) -> None:
        requested.append(request.url)

    page.on("request", note)
    await open_signed_in(page, ui_server, make_token("alice", TENANT))
    await create_session(page)
    await eventually(lambda: msr(page, "mapReady"), bool, "the map to load")
    origin = ui_server.url
    ws_origin = origin.replace("http://", "ws://")
    outside = [url for url in requested if not url.startswith((origin, ws_origin, "data:", "blob:"))]
    assert not outside, outside
    assert any("/static/build/basemap/basemap.bin" in url for url in requested)


async def test_development_mode_signs_in_with_one_click(page: Page, settings: Settings) -> None:
    async with serve(settings.replace(dev_mode=True)) as running:
        await page.goto(running.url + "/")
        await page.get_by_test_id("dev-token").click()
        await page.get_by_test_id("who").wait_for(state="visible")
        assert await page.get_by_test_id("operator-link").is_visible()
        assert await status(page) == "idle"


async def test_control_room_starts_and_attaches_to_the_tenants_shared_replay(
    page: Page, ui_server: RunningServer
) -> None:
    await open_signed_in(page, ui_server, make_token("alice", TENANT))
    await page.get_by_test_id("control-room").click()
    await page.get_by_test_id("rnr-dialog").wait_for(state="visible")
    await page.get_by_test_id("rnr-start").click()
    await eventually(lambda: msr(page, "session"), lambda s: bool(s) and s["kind"] == "rnr", "the control-room replay")
    await eventually(lambda: status(page), lambda s: s == "paused", "the replay's first state")
    await page.get_by_test_id("speed").select_option("100")
    await page.get_by_test_id("play").click()
    await eventually(lambda: entity_count(page), lambda n: n >= 100, "entities from the shared replay")
    replay_id = (await msr(page, "session"))["id"]
    async with ui_server.client() as client:
        current = await client.get("/v1/replay/current-session", headers=bearer(make_token("bob", TENANT)))
    assert current.status_code == 200, current.text
    assert current.json()["data"]["id"] == replay_id
