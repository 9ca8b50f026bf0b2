"""An event at or before the instant retention cut a tenant's history at is refused, with nothing stored."""

import uuid
from datetime import timedelta

import asyncpg

from tests.api.events import T0, event, everything
from tests.support import bearer, make_token


async def test_an_event_older_than_the_retained_history_is_refused_and_the_batch_is_not_stored(
    server, settings, stored
):
    tenant = uuid.uuid4()
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(
            "INSERT INTO tenant_config (tenant_id, retained_from) VALUES ($1, $2)", tenant, T0 + timedelta(seconds=5)
        )
    finally:
        await conn.close()
    headers = bearer(make_token("loader", tenant))
    async with server.client() as client:
        refused = await client.post("/v1/ingest/events", json=[event(10), event(5), event(11)], headers=headers)
        accepted = await client.post("/v1/ingest/events", json=[event(10), event(11)], headers=headers)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "TIMESTAMP_OUT_OF_RANGE"
    assert error["details"] == {"row": 1, "field": "event_timestamp", "earliest": "2026-02-01T08:00:05Z"}
    assert accepted.status_code == 200
    assert [e.entity_id for e in await everything(stored, tenant)] == ["e-10", "e-11"]
