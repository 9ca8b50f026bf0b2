"""POST /v1/ingest/events (SPEC section 6): atomic, idempotent batches for the caller's tenant, validated per row."""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.events import T0, event, everything
from tests.support import bearer, make_token

TENANT = uuid.UUID(int=11)
OTHER = uuid.UUID(int=22)
USER = bearer(make_token("writer", TENANT))
NDJSON = {"Content-Type": "application/x-ndjson"}


async def post(client, body, headers=USER, **kwargs):
    return await client.post("/v1/ingest/events", json=body, headers=headers, **kwargs)


async def test_a_batch_is_stored_with_its_state_verbatim_and_answers_the_counts(server, stored):
    state_text = '{"b": 1,   "a": [1.50, "x"], "nested": {"z": null}}'
    raw_row = (
        '{"entity_id": "v-1", "table_name": "public.vehicles", "op": "c", '
        f'"entity_state": {state_text}, "event_timestamp": "2026-02-01T16:00:00.123456+08:00"}}'
    )
    body = f"[{raw_row}, {json.dumps(event(2))}]"
    async with server.client() as client:
        response = await client.post(
            "/v1/ingest/events", content=body, headers={**USER, "Content-Type": "application/json"}
        )
    assert response.status_code == 200
    assert response.json()["data"] == {"accepted": 2, "duplicates": 0}
    first, second = await everything(stored, TENANT)
    assert bytes(first.entity_state).decode() == state_text
    assert first.event_timestamp == datetime(2026, 2, 1, 8, 0, 0, 123456, tzinfo=UTC)
    assert (first.table_name, first.entity_id, first.op) == ("public.vehicles", "v-1", "c")
    assert second.seq > first.seq


async def test_a_retried_batch_stores_nothing_twice(server, stored):
    batch = [event(i) for i in range(5)]
    async with server.client() as client:
        first = await post(client, batch)
        retry = await post(client, batch)
        overlapping = await post(client, [*batch[3:], event(5)])
    assert first.json()["data"] == {"accepted": 5, "duplicates": 0}
    assert retry.json()["data"] == {"accepted": 0, "duplicates": 5}
    assert overlapping.json()["data"] == {"accepted": 1, "duplicates": 2}
    assert len(await everything(stored, TENANT)) == 6


async def test_the_same_batch_sent_twice_at_once_is_stored_once(server, stored):
    batch = [event(i) for i in range(200)]
    async with server.client() as client:
        answers = await asyncio.gather(post(client, batch), post(client, batch))
    counts = [answer.json()["data"] for answer in answers]
    assert sum(c["accepted"] for c in counts) == 200
    assert sum(c["duplicates"] for c in counts) == 200
    assert len(await everything(stored, TENANT)) == 200


async def test_event_id_is_the_identity_when_given(server, stored):
    same_fields = [event(1, event_id="a"), event(1, event_id="b"), event(1, event_id="a"), event(1)]
    async with server.client() as client:
        response = await post(client, same_fields)
    assert response.json()["data"] == {"accepted": 3, "duplicates": 1}


async def test_equal_timestamps_keep_the_order_of_the_batch(server, stored):
    batch = [event(0, entity_id=f"e-{n}", op="u") for n in (5, 3, 9, 1)]
    async with server.client() as client:
        await post(client, batch)
    assert [item.entity_id for item in await everything(stored, TENANT)] == ["e-5", "e-3", "e-9", "e-1"]


async def test_the_events_of_one_transaction_are_recorded_at_its_first_events_instant(server, stored):
    async with server.client() as client:
        await post(client, [event(0, transaction_id="t-1"), event(1), event(2, entity_id="x", transaction_id="t-1")])
        await post(client, [event(5, entity_id="y", transaction_id="t-1")])
    items = [(item.entity_id, item.event_timestamp) for item in await everything(stored, TENANT)]
    assert items == [("e-0", T0), ("x", T0), ("y", T0), ("e-1", T0 + timedelta(seconds=1))]


async def test_ndjson_is_accepted_and_blank_lines_are_ignored(server, stored):
    lines = "\n".join(json.dumps(event(i)) for i in range(3)) + "\n\n"
    async with server.client() as client:
        response = await client.post("/v1/ingest/events", content=lines, headers={**USER, **NDJSON})
    assert response.json()["data"] == {"accepted": 3, "duplicates": 0}


async def test_a_delete_needs_no_state_and_is_stored_with_a_null_state(server, stored):
    batch = [event(0), event(1, entity_id="e-0", op="d", entity_state=...), event(2, op="d", entity_state=None)]
    async with server.client() as client:
        response = await post(client, batch)
    assert response.json()["data"] == {"accepted": 3, "duplicates": 0}
    assert [bytes(item.entity_state) for item in await everything(stored, TENANT)][1:] == [b"null", b"null"]


async def test_one_bad_row_fails_the_whole_batch_and_stores_nothing(server, stored):
    batch = [event(0), event(1), event(2, op="x"), event(3)]
    async with server.client() as client:
        response = await post(client, batch)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert error["details"] == {"row": 2, "field": "op"}
        assert "row 2" in error["message"]
        assert await everything(stored, TENANT) == []
        fixed = await post(client, [event(0), event(1), event(2), event(3)])
    assert fixed.json()["data"] == {"accepted": 4, "duplicates": 0}


def _far_future() -> str:
    return (datetime.now(UTC) + timedelta(minutes=10)).isoformat()


BAD_ROWS = [
    ("entity_id", {"entity_id": ...}),
    ("entity_id", {"entity_id": ""}),
    ("entity_id", {"entity_id": "x" * 513}),
    ("entity_id", {"entity_id": 42}),
    ("entity_id", {"entity_id": "a\u0000b"}),
    ("table_name", {"table_name": ...}),
    ("table_name", {"table_name": "public.vehicles.extra"}),
    ("table_name", {"table_name": "1public.vehicles"}),
    ("table_name", {"table_name": "public.veh-icles"}),
    ("table_name", {"table_name": "x" * 64}),
    ("table_name", {"table_name": ""}),
    ("op", {"op": ...}),
    ("op", {"op": "x"}),
    ("op", {"op": "create"}),
    ("op", {"op": 1}),
    ("entity_state", {"entity_state": ...}),
    ("entity_state", {"entity_state": None}),
    ("entity_state", {"entity_state": [1, 2]}),
    ("entity_state", {"entity_state": "{}"}),
    ("entity_state", {"op": "d", "entity_state": 3}),
    ("event_timestamp", {"event_timestamp": ...}),
    ("event_timestamp", {"event_timestamp": "2026-02-01T08:00:00"}),
    ("event_timestamp", {"event_timestamp": "2026-02-01"}),
    ("event_timestamp", {"event_timestamp": "yesterday"}),
    ("event_timestamp", {"event_timestamp": 1770000000}),
    ("event_timestamp", {"event_timestamp": _far_future()}),
    ("event_id", {"event_id": 7}),
    ("event_id", {"event_id": "x" * 513}),
    ("transaction_id", {"transaction_id": 7}),
    ("transaction_id", {"transaction_id": ""}),
    ("tenant_id", {"tenant_id": "not-a-uuid"}),
    ("tenant_id", {"tenant_id": 5}),
]


async def test_each_invalid_field_is_a_400_naming_the_row_and_the_field(server, stored):
    async with server.client() as client:
        for field, changes in BAD_ROWS:
            response = await post(client, [event(0), event(1, **changes)])
            assert response.status_code == 400, (changes, response.text)
            error = response.json()["error"]
            assert error["code"] == "VALIDATION_ERROR"
            assert error["details"] == {"row": 1, "field": field}, changes
    assert await everything(stored, TENANT) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{}", "JSON array"),
        ('{"entity_id": "x"}', "JSON array"),
        ("[1, 2", "not valid JSON"),
        ("", "not valid JSON"),
    ],
)
async def test_a_body_that_is_not_an_array_of_events_is_a_400(server, body, message):
    async with server.client() as client:
        response = await client.post(
            "/v1/ingest/events", content=body, headers={**USER, "Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


async def test_a_row_that_is_not_an_object_names_the_row(server):
    async with server.client() as client:
        response = await post(client, [event(0), "text"])
    assert response.json()["error"]["details"] == {"row": 1, "field": None}


async def test_a_bad_ndjson_line_names_the_row_and_the_line(server, stored):
    lines = f"{json.dumps(event(0))}\n\n{{not json\n"
    async with server.client() as client:
        response = await client.post("/v1/ingest/events", content=lines, headers={**USER, **NDJSON})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"row": 1, "field": None, "line": 3}
    assert await everything(stored, TENANT) == []


async def test_another_content_type_is_a_415(server):
    async with server.client() as client:
        response = await client.post("/v1/ingest/events", content="a,b", headers={**USER, "Content-Type": "text/csv"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_a_body_over_the_limit_is_a_413_in_the_envelope(settings, start_server, stored):
    async with start_server(settings.replace(max_body_bytes=4096)) as small, small.client() as client:
        response = await post(client, [event(i) for i in range(100)])
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert await everything(stored, TENANT) == []


async def test_ingest_needs_a_token(server):
    async with server.client() as client:
        response = await post(client, [event(0)], headers={})
    assert response.status_code == 401


async def test_the_tenant_comes_from_the_token_and_no_tenant_sees_another_tenants_events(server, stored):
    async with server.client() as client:
        mine = await post(client, [event(i) for i in range(3)])
        theirs = await post(client, [event(i) for i in range(3)], headers=bearer(make_token("w2", OTHER)))
        explicit = await post(client, [event(9, tenant_id=str(TENANT))])
    assert mine.json()["data"] == theirs.json()["data"] == {"accepted": 3, "duplicates": 0}
    assert explicit.json()["data"] == {"accepted": 1, "duplicates": 0}
    assert [i.entity_id for i in await everything(stored, TENANT)] == ["e-0", "e-1", "e-2", "e-9"]
    assert [i.entity_id for i in await everything(stored, OTHER)] == ["e-0", "e-1", "e-2"]
    state = [item async for chunk in stored.state_at(OTHER, T0 + timedelta(hours=1)) for item in chunk]
    assert sorted(item.entity_id for item in state) == ["e-0", "e-1", "e-2"]


@pytest.mark.parametrize("admin", [False, True])
async def test_another_tenants_id_in_a_row_is_a_403_and_nothing_is_stored(server, stored, admin):
    token = bearer(make_token("writer", TENANT, admin=admin))
    async with server.client() as client:
        response = await post(client, [event(0), event(1, tenant_id=str(OTHER))], headers=token)
    assert response.status_code == 403
    assert response.json()["error"]["details"] == {"row": 1, "field": "tenant_id"}
    assert await everything(stored, TENANT) == await everything(stored, OTHER) == []


async def test_a_global_admin_may_record_for_another_tenant(server, stored):
    token = bearer(make_token("root", TENANT, roles=["admin", "msr-global-admin"]))
    async with server.client() as client:
        response = await post(client, [event(0), event(1, tenant_id=str(OTHER))], headers=token)
    assert response.json()["data"] == {"accepted": 2, "duplicates": 0}
    assert [i.entity_id for i in await everything(stored, TENANT)] == ["e-0"]
    assert [i.entity_id for i in await everything(stored, OTHER)] == ["e-1"]
