"""GET/PUT /admin/settings (seed 000): the eight settings, partial updates answering the values given, each field
validated with a 400 naming it and nothing changed, admins only, and every replica using a change within a second."""

import asyncio
import time

from app.settings import Settings
from tests.support import bearer, make_token

ADMIN = bearer(make_token("admin-1", admin=True))
DEFAULTS = {
    "max_active_sessions": 10,
    "max_playback_range": 30,
    "data_retention_cron_expression": "0 2 * * *",
    "earliest_valid_timestamp": "2024-01-15T00:00:00Z",
    "query_work_mem_mb": 256,
    "columnstore_compression_age_days": 7,
    "cagg_refresh_interval_hours": 1,
    "cagg_refresh_lag_days": 1,
}


async def current(client) -> dict:
    response = await client.get("/admin/settings", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_get_answers_the_eight_settings_with_the_seed_defaults(server):
    async with server.client() as client:
        response = await client.get("/admin/settings", headers=ADMIN)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == DEFAULTS
    assert set(body) >= {"data", "sent_at"}


async def test_a_partial_put_answers_exactly_the_values_given_and_get_shows_them(server):
    change = {"max_active_sessions": 15, "data_retention_cron_expression": "30 3 * * 1-5"}
    async with server.client() as client:
        response = await client.put("/admin/settings", json=change, headers=ADMIN)
        after = await current(client)
    assert response.status_code == 200
    assert response.json()["data"] == change
    assert after == {**DEFAULTS, **change}


async def test_a_full_put_as_in_the_seed_is_accepted(server):
    change = {
        "max_active_sessions": 15,
        "max_playback_range": 45,
        "data_retention_cron_expression": "0 2 * * *",
        "earliest_valid_timestamp": "2024-01-15T00:00:00Z",
        "query_work_mem_mb": 512,
        "columnstore_compression_age_days": 14,
        "cagg_refresh_interval_hours": 2,
        "cagg_refresh_lag_days": 2,
    }
    async with server.client() as client:
        response = await client.put("/admin/settings", json=change, headers=ADMIN)
        assert response.json()["data"] == change
        assert await current(client) == change


async def test_put_normalises_a_timestamp_to_utc_and_accepts_fractional_hours(server):
    change = {"earliest_valid_timestamp": "2024-03-01T08:00:00+08:00", "cagg_refresh_interval_hours": 0.25}
    async with server.client() as client:
        response = await client.put("/admin/settings", json=change, headers=ADMIN)
        after = await current(client)
    expected = {"earliest_valid_timestamp": "2024-03-01T00:00:00Z", "cagg_refresh_interval_hours": 0.25}
    assert response.json()["data"] == expected
    assert after == {**DEFAULTS, **expected}


BAD_VALUES = {
    "zero": ({"max_active_sessions": 0}, "max_active_sessions"),
    "negative": ({"max_playback_range": -1}, "max_playback_range"),
    "boolean": ({"query_work_mem_mb": True}, "query_work_mem_mb"),
    "string-for-a-number": ({"max_active_sessions": "5"}, "max_active_sessions"),
    "fraction": ({"columnstore_compression_age_days": 1.5}, "columnstore_compression_age_days"),
    "null": ({"cagg_refresh_lag_days": None}, "cagg_refresh_lag_days"),
    "zero-hours": ({"cagg_refresh_interval_hours": 0}, "cagg_refresh_interval_hours"),
    "boolean-hours": ({"cagg_refresh_interval_hours": False}, "cagg_refresh_interval_hours"),
    "too-large": ({"max_active_sessions": 2**31}, "max_active_sessions"),
    "6-field-cron": ({"data_retention_cron_expression": "0 0 2 * * *"}, "data_retention_cron_expression"),
    "garbage-cron": ({"data_retention_cron_expression": "every night"}, "data_retention_cron_expression"),
    "cron-minute-61": ({"data_retention_cron_expression": "61 2 * * *"}, "data_retention_cron_expression"),
    "cron-number": ({"data_retention_cron_expression": 5}, "data_retention_cron_expression"),
    "naive-timestamp": ({"earliest_valid_timestamp": "2024-01-15T00:00:00"}, "earliest_valid_timestamp"),
    "date-only": ({"earliest_valid_timestamp": "2024-01-15"}, "earliest_valid_timestamp"),
    "not-a-timestamp": ({"earliest_valid_timestamp": "yesterday"}, "earliest_valid_timestamp"),
    "epoch-number": ({"earliest_valid_timestamp": 1705276800}, "earliest_valid_timestamp"),
    "unknown-field": ({"max_sessions": 5}, "max_sessions"),
    "one-bad-of-two": ({"max_active_sessions": 20, "max_playback_range": 0}, "max_playback_range"),
}
"""Case: (body, the field the 400 must name)."""

NOT_SETTINGS_OBJECTS = {
    "empty-object": b"{}",
    "not-json": b"not json",
    "empty-body": b"",
    "array": b"[]",
    "truncated": b'{"max_active_sessions": 5',
}


async def test_a_bad_value_is_400_naming_the_field_and_changes_nothing(server):
    async with server.client() as client:
        for case, (body, field) in BAD_VALUES.items():
            response = await client.put("/admin/settings", json=body, headers=ADMIN)
            assert response.status_code == 400, (case, response.text)
            error = response.json()["error"]
            assert error["code"] == "VALIDATION_ERROR", case
            assert error["details"]["field"] == field, case
            assert field in error["message"], case
            assert await current(client) == DEFAULTS, case


async def test_a_body_that_is_not_a_settings_object_is_400_and_changes_nothing(server):
    json_type = {**ADMIN, "Content-Type": "application/json"}
    async with server.client() as client:
        for case, content in NOT_SETTINGS_OBJECTS.items():
            response = await client.put("/admin/settings", content=content, headers=json_type)
            assert response.status_code == 400, (case, response.text)
            assert response.json()["error"]["code"] == "VALIDATION_ERROR", case
            assert await current(client) == DEFAULTS, case


async def test_settings_are_for_admins_only(server):
    user = bearer(make_token("user-1"))
    async with server.client() as client:
        read = await client.get("/admin/settings", headers=user)
        write = await client.put("/admin/settings", json={"max_active_sessions": 99}, headers=user)
        after = await current(client)
    for response in (read, write):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "FORBIDDEN"
    assert after == DEFAULTS


async def test_a_change_on_one_replica_is_used_by_another_within_a_second(settings, start_server):
    # The production poll period, not the fast one of the test fixture: the promise is about the default.
    shared = settings.replace(settings_poll_s=Settings().settings_poll_s)
    async with (
        start_server(shared) as replica_a,
        start_server(shared) as replica_b,
        replica_a.client() as client_a,
        replica_b.client() as client_b,
    ):
        assert await current(client_b) == DEFAULTS
        change = {"max_active_sessions": 3, "earliest_valid_timestamp": "2024-02-01T00:00:00Z"}
        response = await client_a.put("/admin/settings", json=change, headers=ADMIN)
        assert response.status_code == 200
        changed_at = time.monotonic()
        while (seen := await current(client_b)) != {**DEFAULTS, **change}:
            assert time.monotonic() - changed_at < 1.0, f"replica B still shows {seen}"
            await asyncio.sleep(0.02)
