"""The operator page in a real browser: sessions listed with filters and paging, terminating one, the settings
form showing the server's validation message, and the snapshot configuration."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from bench.pages import TENANT, eventually
from tests.support import RunningServer, bearer, make_token

pytestmark = pytest.mark.browser


async def open_operator(page: Page, server: RunningServer, token: str) -> None:
    await page.goto(server.url + "/operator")
    await page.get_by_test_id("token-input").fill(token)
    await page.get_by_test_id("sign-in").click()


async def test_operator_lists_pages_and_terminates_sessions(page: Page, ui_server: RunningServer) -> None:
    admin = make_token("olive", TENANT, admin=True)
    async with ui_server.client() as client:
        for user in ("alice", "bob", "carol"):
            response = await client.post("/session", headers=bearer(make_token(user, TENANT)))
            assert response.status_code == 201, response.text
    await open_operator(page, ui_server, admin)
    rows = page.get_by_test_id("session-row")
    await eventually(rows.count, lambda n: n == 3, "the three active sessions to be listed")
    assert await page.get_by_test_id("active-count").inner_text() == "3"
    await page.get_by_test_id("page-size").select_option("10")
    await page.get_by_test_id("filter-user").fill("bob")
    await page.get_by_test_id("filter-apply").click()
    await eventually(rows.count, lambda n: n == 1, "the user filter to leave bob's session")
    await page.get_by_test_id("op-terminate").click()
    await eventually(lambda: page.get_by_test_id("sessions-empty").count(), lambda n: n == 1, "bob's session to go")
    await eventually(
        lambda: page.get_by_test_id("active-count").inner_text(), lambda text: text == "2", "the count to drop"
    )
    await page.get_by_test_id("filter-status").select_option("INACTIVE")
    await page.get_by_test_id("filter-apply").click()
    await eventually(rows.count, lambda n: n == 1, "bob's session to be listed as inactive")
    assert await rows.first.get_attribute("data-status") == "INACTIVE"


async def test_settings_form_shows_the_servers_validation_message(page: Page, ui_server: RunningServer) -> None:
    await open_operator(page, ui_server, make_token("olive", TENANT, admin=True))
    field = page.get_by_test_id("setting-max_active_sessions")
    await eventually(field.input_value, lambda value: value != "", "the settings to load")
    await field.fill("0")
    await page.get_by_test_id("settings-save").click()
    error = page.get_by_test_id("setting-error-max_active_sessions")
    await error.wait_for(state="visible")
    assert "max_active_sessions" in await error.inner_text()
    await field.fill("7")
    await page.get_by_test_id("settings-save").click()
    await eventually(
        lambda: page.get_by_test_id("settings-message").inner_text(), lambda t: t.startswith("Saved"), "the save"
    )
    async with ui_server.client() as client:
        answer = await client.get("/admin/settings", headers=bearer(make_token("olive", TENANT, admin=True)))
    assert answer.json()["data"]["max_active_sessions"] == 7


async def test_snapshot_schedule_is_validated_and_saved(page: Page, ui_server: RunningServer) -> None:
    await open_operator(page, ui_server, make_token("olive", TENANT, admin=True))
    interval = page.get_by_test_id("snapshot-interval")
    await eventually(interval.input_value, lambda value: value != "", "the configuration to load")
    await interval.fill("every hour")
    await page.get_by_test_id("snapshot-interval-save").click()
    error = page.get_by_test_id("snapshot-interval-error")
    await error.wait_for(state="visible")
    assert "cron" in await error.inner_text()
    await interval.fill("*/30 * * * *")
    await page.get_by_test_id("snapshot-interval-save").click()
    await eventually(error.inner_text, lambda text: text == "", "the error to clear")
    await eventually(interval.input_value, lambda value: value == "*/30 * * * *", "the saved schedule")


async def test_a_non_admin_is_told_the_page_is_for_admins(page: Page, ui_server: RunningServer) -> None:
    await open_operator(page, ui_server, make_token("alice", TENANT))
    await page.get_by_test_id("forbidden").wait_for(state="visible")
