"""POST /v1/ingest/debezium: Debezium change-event envelopes, as Debezium Server's HTTP sink posts them."""

import json
import uuid
from datetime import UTC, datetime

from tests.api.events import everything
from tests.support import bearer, make_token

TENANT = uuid.UUID(int=33)
USER = bearer(make_token("debezium", TENANT))
TS_MS = 1_770_000_000_123  # 2026-02-02T02:40:00.123Z


def payload(op="c", *, before=None, after=None, ts_ms=TS_MS, lsn=1000, table="vehicles", **source_fields):
    if after is None and op in "cru":
        after = {"id": 7, "name": "bus 7", "geom": {"type": "Point", "coordinates": [103.8, 1.3]}}
    source = {
        "version": "2.7.0.Final",
        "connector": "postgresql",
        "name": "msr",
        "ts_ms": ts_ms,
        "db": "ops",
        "schema": "public",
        "table": table,
        "lsn": lsn,
        "txId": 77,
        **source_fields,
    }
    return {"before": before, "after": after, "source": source, "op": op, "ts_ms": ts_ms + 5}


def with_schema(body):
    return {"schema": {"type": "struct", "name": "msr.public.vehicles.Envelope"}, "payload": body}


def counts(accepted, duplicates, skipped=0, truncated=0):
    return {"accepted": accepted, "duplicates": duplicates, "skipped": skipped, "truncated": truncated}


async def post(client, body, **kwargs):
    content = body if isinstance(body, str) else json.dumps(body)
    headers = {**USER, "Content-Type": "application/json"}
    return await client.post("/v1/ingest/debezium", content=content, headers=headers, **kwargs)


async def test_an_envelope_with_a_schema_is_stored_with_source_time_table_and_key(server, stored):
    async with server.client() as client:
        response = await post(client, with_schema(payload()))
    assert response.status_code == 200
    assert response.json()["data"] == counts(1, 0)
    [item] = await everything(stored, TENANT)
    assert (item.table_name, item.entity_id, item.op) == ("public.vehicles", "7", "c")
    assert item.event_timestamp == datetime(2026, 2, 2, 2, 40, 0, 123000, tzinfo=UTC)
    assert json.loads(bytes(item.entity_state))["name"] == "bus 7"


async def test_a_bare_payload_and_a_batch_are_accepted(server, stored):
    batch = [payload("r", lsn=1), with_schema(payload("u", lsn=2, after={"id": "7", "name": "moved"}))]
    async with server.client() as client:
        single = await post(client, payload("c", lsn=0))
        many = await post(client, batch)
    assert single.json()["data"] == counts(1, 0)
    assert many.json()["data"] == counts(2, 0)
    assert [(i.op, i.entity_id) for i in await everything(stored, TENANT)] == [("c", "7"), ("r", "7"), ("u", "7")]


async def test_a_delete_takes_its_entity_id_from_before_and_stores_no_state(server, stored):
    async with server.client() as client:
        response = await post(client, payload("d", before={"id": 9, "name": "gone"}, after=None))
    assert response.json()["data"] == counts(1, 0)
    [item] = await everything(stored, TENANT)
    assert (item.op, item.entity_id, bytes(item.entity_state)) == ("d", "9", b"null")


async def test_tombstones_and_messages_are_skipped(server, stored):
    batch = [None, {"schema": None, "payload": None}, payload("m"), payload("c")]
    async with server.client() as client:
        skipped = await post(client, batch)
        empty = await post(client, "")
        null = await post(client, "null")
    assert skipped.json()["data"] == counts(1, 0, skipped=3)
    assert "3 skipped (1 message, 2 tombstone)" in skipped.json()["message"]
    assert empty.json()["data"] == null.json()["data"] == counts(0, 0, skipped=1)
    assert len(await everything(stored, TENANT)) == 1


async def test_a_redelivered_envelope_is_a_duplicate_but_two_changes_in_one_millisecond_are_not(server, stored):
    first = payload("u", lsn=10, after={"id": 7, "speed": 1})
    second = payload("u", lsn=11, after={"id": 7, "speed": 2})
    async with server.client() as client:
        stored_both = await post(client, [first, second])
        redelivered = await post(client, first)
    assert stored_both.json()["data"] == counts(2, 0)
    assert redelivered.json()["data"] == counts(0, 1)
    items = await everything(stored, TENANT)
    assert [json.loads(bytes(i.entity_state))["speed"] for i in items] == [1, 2]


async def test_microsecond_source_time_is_used_when_present(server, stored):
    async with server.client() as client:
        await post(client, payload(ts_us=TS_MS * 1000 + 456))
    [item] = await everything(stored, TENANT)
    assert item.event_timestamp.microsecond == 123456


async def test_a_mysql_source_names_the_table_by_database(server, stored):
    async with server.client() as client:
        await post(client, payload(schema=None, db="inventory", file="binlog.000003", pos=154, row=0, lsn=None))
    [item] = await everything(stored, TENANT)
    assert item.table_name == "inventory.vehicles"


async def test_the_key_column_can_be_chosen(server, stored):
    async with server.client() as client:
        response = await post(client, payload(after={"id": 1, "plate": "SBS1234A"}), params={"key": "plate"})
        bad = await post(client, payload(), params={"key": "not a column"})
    assert response.status_code == 200
    assert [i.entity_id for i in await everything(stored, TENANT)] == ["SBS1234A"]
    assert bad.status_code == 400


BAD_ENVELOPES = [
    ("op", {"op": "x"}),
    ("op", {"op": 1}),
    ("op", {"op": ...}),
    ("source", {"source": ...}),
    ("source", {"source": "pg"}),
    ("source.table", {"source": {"schema": "public", "ts_ms": TS_MS}}),
    ("source.table", {"source": {"schema": "public", "table": "bad-name", "ts_ms": TS_MS}}),
    ("source.ts_ms", {"source": {"schema": "public", "table": "vehicles"}}),
    ("source.ts_ms", {"source": {"schema": "public", "table": "vehicles", "ts_ms": "soon"}}),
    ("after", {"after": None}),
    ("after", {"after": [1]}),
    ("after.id", {"after": {"name": "no id"}}),
    ("after.id", {"after": {"id": 1.5}}),
    ("source.ts_ms", {"source": {"schema": "public", "table": "vehicles", "ts_ms": 2**80}}),
    ("transaction.id", {"transaction": {"id": 5}}),
    ("before", {"op": "d", "before": None, "after": None}),
]


async def test_each_invalid_envelope_is_a_400_naming_the_row_and_the_field_and_stores_nothing(server, stored):
    async with server.client() as client:
        for field, changes in BAD_ENVELOPES:
            bad = {key: value for key, value in {**payload(), **changes}.items() if value is not ...}
            for body, path in ((bad, field), (with_schema(bad), f"payload.{field}")):
                response = await post(client, [payload(), body])
                assert response.status_code == 400, (changes, response.text)
                error = response.json()["error"]
                assert error["code"] == "VALIDATION_ERROR"
                assert error["details"] == {"row": 1, "field": path}, changes
    assert await everything(stored, TENANT) == []


async def test_debezium_needs_json(server):
    async with server.client() as client:
        response = await client.post(
            "/v1/ingest/debezium", content="{}", headers={**USER, "Content-Type": "application/x-ndjson"}
        )
    assert response.status_code == 400
