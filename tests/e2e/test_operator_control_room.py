"""The operator page's control room in a real browser: live sessions that refresh by themselves, watched read-only
and terminated; jobs with progress bars and cancel; a user's sessions and their erasure behind a confirmation that
names the user; a session's activity log as a timeline."""

from __future__ import annotations

import asyncio
import json

import pytest
from playwright.async_api import Page
from websockets.asyncio.client import connect

from bench.pages import RESULTS, TENANT, eventually
from store.jobs import JobRepository
from store.pool import Database, PoolConfig
from tests.support import RunningServer, bearer, make_token

pytestmark = pytest.mark.browser

ADMIN = make_token("olive", TENANT, admin=True)


async def open_operator(page: Page, server: RunningServer) -> None:
    # The page asks confirm() before a terminate; the operator says yes.
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto(server.url + "/operator")
    await page.get_by_test_id("token-input").fill(ADMIN)
    await page.get_by_test_id("sign-in").click()


async def test_live_sessions_refresh_by_themselves_are_watched_read_only_and_terminated(
    page: Page, ui_server: RunningServer
) -> None:
    owner = make_token("alice", TENANT)
    async with ui_server.client() as client:
        session_id = (await client.post("/session", headers=bearer(owner))).json()["data"]["id"]
    await open_operator(page, ui_server)
    await page.get_by_test_id("live-empty").wait_for(state="visible")
    url = ui_server.url.replace("http://", "ws://") + f"/ws/replay/{session_id}"
    async with connect(url, additional_headers=bearer(owner)) as ws:
        await ws.send(json.dumps({"type": "start", "speed": 10, "id": 1}))
        row = page.locator(f"[data-testid=live-row][data-session-id='{session_id}']")
        # No click: the panel refreshes by itself.
        await row.wait_for(state="visible")
        await eventually(row.get_by_test_id("live-viewer").count, lambda n: n == 1, "alice listed as a viewer")
        await row.get_by_test_id("live-watch").click()
        await eventually(page.get_by_test_id("watch-state").inner_text, lambda t: t == "playing", "the watch to attach")
        await eventually(
            page.get_by_test_id("watch-frames").inner_text, lambda t: int(t) > 2, "frames to reach the watcher"
        )
        viewers = row.get_by_test_id("live-viewer")
        await eventually(viewers.count, lambda n: n == 2, "the admin listed as a second viewer")
        assert "view" in await row.locator("[data-user=olive]").inner_text()
        RESULTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(RESULTS / "operator-control-room.png"), full_page=True)
        await row.get_by_test_id("live-terminate").click()
        await eventually(page.get_by_test_id("watch-state").inner_text, lambda t: "closed" in t, "the watch to close")
        await page.get_by_test_id("live-empty").wait_for(state="visible")


async def test_jobs_show_progress_and_are_cancelled(page: Page, ui_server: RunningServer) -> None:
    assert ui_server.settings.database_url is not None
    db = Database(PoolConfig(dsn=ui_server.settings.database_url, min_size=1, max_size=2))
    await db.open()
    try:
        jobs = JobRepository(db)
        running = await jobs.create("export", tenant_id=TENANT, created_by="olive")
        await jobs.start(running.id)
        await jobs.report_progress(running.id, 0.4, done=2, total=5)
        waiting = await jobs.create("export", tenant_id=TENANT, created_by="olive")
        await open_operator(page, ui_server)
        running_row = page.locator(f"[data-job-id='{running.id}']")
        await running_row.wait_for(state="visible")
        assert await running_row.get_by_test_id("job-progress").get_attribute("aria-valuenow") == "40"
        assert "2/5" in await running_row.inner_text()
        await page.locator(f"[data-job-id='{waiting.id}']").get_by_test_id("job-cancel").click()
        await eventually(
            lambda: page.locator(f"[data-job-id='{waiting.id}']").get_attribute("data-status"),
            lambda status: status == "cancelled",
            "the scheduled job to be cancelled",
        )
        await running_row.get_by_test_id("job-cancel").click()
        await eventually(
            running_row.get_by_test_id("job-status").inner_text, lambda t: t == "cancelling", "the running job to stop"
        )
        # The job stops at its next step; the page shows it without being asked.
        with pytest.raises(Exception, match="cancelled"):
            await jobs.report_progress(running.id, 0.6)
        await jobs.mark_cancelled(running.id)
        await eventually(
            lambda: running_row.get_attribute("data-status"), lambda s: s == "cancelled", "the cancelled job"
        )
    finally:
        await db.close()


async def test_a_user_is_looked_up_their_activity_shown_and_their_data_erased(
    page: Page, ui_server: RunningServer
) -> None:
    async with ui_server.client() as client:
        for _ in range(2):
            created = await client.post("/session", headers=bearer(make_token("leaving", TENANT)))
            assert created.status_code == 201, created.text
    await open_operator(page, ui_server)
    # The page has loaded once its overview counts the two sessions (a run on a loaded machine once showed no
    # session rows for 20 s after the lookup; this tells a page not ready from a lookup gone wrong).
    await eventually(page.get_by_test_id("active-count").inner_text, lambda t: t == "2", "the overview's count")
    await page.get_by_test_id("user-lookup").fill("leaving")
    await page.get_by_test_id("user-lookup-go").click()
    rows = page.get_by_test_id("user-session-row")
    await eventually(page.get_by_test_id("user-panel").inner_text, lambda t: "leaving: 2 sessions" in t, "the lookup")
    await eventually(rows.count, lambda n: n == 2, "the user's two sessions")
    await rows.first.get_by_test_id("user-session-activity").click()
    items = page.get_by_test_id("timeline-item")
    await eventually(items.count, lambda n: n >= 1, "the activity timeline")
    assert await items.first.get_attribute("data-type") == "created"
    await page.get_by_test_id("user-erase").click()
    dialog = page.get_by_test_id("erase-dialog")
    await dialog.wait_for(state="visible")
    assert "leaving" in await page.get_by_test_id("erase-message").inner_text()
    confirm = page.get_by_test_id("erase-confirm")
    assert await confirm.is_disabled()
    await page.get_by_test_id("erase-confirm-input").fill("leaving")
    await confirm.click()
    erasure = page.locator("[data-testid=job-row][data-kind=user_erasure]")
    await eventually(
        lambda: erasure.first.get_attribute("data-status"), lambda s: s == "completed", "the erasure to complete"
    )
    assert "sessions 2" in await erasure.first.inner_text()
    # The panels follow the job's end by themselves: the user has no session left.
    await page.get_by_test_id("user-no-sessions").wait_for(state="visible")
    await eventually(page.get_by_test_id("active-count").inner_text, lambda t: t == "0", "the active count to drop")
    RESULTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(RESULTS / "operator-users-jobs-activity.png"), full_page=True)
