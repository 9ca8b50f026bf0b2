"""Every message Debezium Server's HTTP sink posts, as Debezium's PostgreSQL connector documentation shows them
(documentation/modules/ROOT/pages/connectors/postgresql.adoc: change events, truncate and message events,
transaction metadata, data type mappings), and the logical types decoded into what the source held."""

import base64
import json
import struct
import uuid
from datetime import UTC, datetime

from store.events import EventFilters
from tests.api.events import everything
from tests.support import bearer, make_token

TENANT = uuid.UUID(int=34)
USER = bearer(make_token("debezium", TENANT))
TS_MS = 1_770_000_000_123


def source(ts_ms=TS_MS, lsn=24023128, table="customers", **fields):
    """The ``source`` block of the connector's documentation (2.x: with ``ts_us`` and ``ts_ns``)."""
    return {
        "version": "2.7.0.Final",
        "connector": "postgresql",
        "name": "PostgreSQL_server",
        "ts_ms": ts_ms,
        "ts_us": ts_ms * 1000,
        "ts_ns": ts_ms * 1_000_000,
        "snapshot": False,
        "db": "postgres",
        "sequence": f'["24023119","{lsn}"]',
        "schema": "public",
        "table": table,
        "txId": 555,
        "lsn": lsn,
        "xmin": None,
        **fields,
    }


def change(op, row, *, before=None, transaction=None, **source_fields):
    value = {
        "before": before,
        "after": None if op == "d" else row,
        "source": source(**source_fields),
        "op": op,
        "ts_ms": TS_MS + 100,
        "ts_us": (TS_MS + 100) * 1000,
        "ts_ns": (TS_MS + 100) * 1_000_000,
    }
    if transaction is not None:
        value["transaction"] = transaction
    return value


def column(field, kind="int32", name=None, **extra):
    spec = {"type": kind, "optional": True, "field": field, **extra}
    if name:
        spec["name"] = name
    return spec


def envelope_schema(columns):
    row = {"type": "struct", "fields": columns, "optional": True, "name": "PostgreSQL_server.public.customers.Value"}
    return {
        "type": "struct",
        "fields": [
            {**row, "field": "before"},
            {**row, "field": "after"},
            {"type": "struct", "fields": [], "optional": False, "name": "io.debezium.connector.postgresql.Source"},
            {"type": "string", "optional": False, "field": "op"},
            {"type": "int64", "optional": True, "field": "ts_ms"},
        ],
        "optional": False,
        "name": "PostgreSQL_server.public.customers.Envelope",
        "version": 2,
    }


CUSTOMER_COLUMNS = [
    column("id", "int32"),
    column("first_name", "string"),
    column("last_name", "string"),
    column("email", "string"),
]
ANNE = {"id": 1, "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"}


async def post(client, body, **kwargs):
    headers = {**USER, "Content-Type": "application/json"}
    return await client.post("/v1/ingest/debezium", content=json.dumps(body), headers=headers, **kwargs)


async def test_every_kind_of_message_the_sink_posts_is_answered_2xx_and_non_rows_are_counted(server, stored):
    batch = [
        # A create, with its schema, as in "create events".
        {"schema": envelope_schema(CUSTOMER_COLUMNS), "payload": change("c", ANNE)},
        # Transaction metadata ("transaction metadata"): BEGIN and END, with their schema and bare.
        {
            "schema": {"type": "struct", "name": "io.debezium.connector.common.TransactionMetadataValue"},
            "payload": {"status": "BEGIN", "id": "571:53195832", "ts_ms": TS_MS, "event_count": None},
        },
        {
            "status": "END",
            "id": "571:53195832",
            "ts_ms": TS_MS,
            "event_count": 2,
            "data_collections": [{"data_collection": "s1.a", "event_count": 1}],
        },
        # Heartbeats: the value holds ts_ms alone.
        {"schema": {"type": "struct", "name": "io.debezium.connector.common.Heartbeat"}, "payload": {"ts_ms": TS_MS}},
        {"ts_ms": TS_MS},
        # Logical-decoding messages ("message events"), transactional and not.
        {
            "source": source(schema="", table=""),
            "op": "m",
            "ts_ms": TS_MS,
            "message": {"prefix": "foo", "content": "Ymfy"},
        },
        {
            "schema": {"type": "struct", "name": "io.debezium.connector.postgresql.MessageValue"},
            "payload": {
                "source": source(schema="", table="", txId=None),
                "op": "m",
                "ts_ms": TS_MS,
                "message": {"prefix": "foo", "content": "Ymfy"},
            },
        },
        # A schema change (the connectors that emit them, e.g. MySQL's "schema change topic").
        {
            "schema": {"type": "struct", "name": "io.debezium.connector.mysql.SchemaChangeValue"},
            "payload": {
                "source": source(),
                "ts_ms": TS_MS,
                "databaseName": "inventory",
                "schemaName": None,
                "ddl": "ALTER TABLE customers ADD COLUMN middle_name VARCHAR(2000)",
                "tableChanges": [],
            },
        },
        # A tombstone after a delete (the sink itself drops null values; a null payload may still come).
        {"schema": None, "payload": None},
    ]
    async with server.client() as client:
        response = await post(client, batch)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"accepted": 1, "duplicates": 0, "skipped": 8, "truncated": 0}
    assert "(2 heartbeat, 2 message, 1 schema change, 1 tombstone, 2 transaction)" in response.json()["message"]
    [item] = await everything(stored, TENANT)
    assert (item.table_name, item.entity_id, item.op) == ("public.customers", "1", "c")
    assert json.loads(bytes(item.entity_state)) == ANNE


async def test_a_truncate_deletes_every_entity_of_its_table_at_its_instant(server, stored):
    rows = [change("c", {**ANNE, "id": i}, lsn=100 + i) for i in range(3)]
    other = change("c", {"id": 9}, table="orders", lsn=104)
    truncate = {"source": source(ts_ms=TS_MS + 5, lsn=200), "op": "t", "ts_ms": TS_MS + 6}
    later = change("c", {**ANNE, "id": 7}, ts_ms=TS_MS + 9, lsn=300)
    async with server.client() as client:
        first = await post(client, [*rows, other, truncate, later])
        again = await post(client, [truncate])
    assert first.json()["data"] == {"accepted": 6, "duplicates": 0, "skipped": 0, "truncated": 3}
    assert again.json()["data"] == {"accepted": 0, "duplicates": 1, "skipped": 0, "truncated": 0}
    truncated_at = datetime.fromtimestamp((TS_MS + 5) / 1000, UTC)
    items = await everything(stored, TENANT)
    deletes = [(i.entity_id, i.event_timestamp) for i in items if i.op == "d"]
    assert deletes == [("0", truncated_at), ("1", truncated_at), ("2", truncated_at)]
    state = [item async for chunk in stored.state_at(TENANT, truncated_at, EventFilters()) for item in chunk]
    assert [(i.table_name, i.entity_id) for i in state] == [("public.orders", "9")]


async def test_the_most_precise_source_time_wins(server, stored):
    nanos = change("c", ANNE, lsn=1)
    nanos["source"]["ts_ns"] = TS_MS * 1_000_000 + 456_789
    micros = change("c", {**ANNE, "id": 2}, lsn=2)
    micros["source"]["ts_us"] = TS_MS * 1000 + 321
    del micros["source"]["ts_ns"]
    millis = change("c", {**ANNE, "id": 3}, lsn=3)
    del millis["source"]["ts_ns"], millis["source"]["ts_us"]
    async with server.client() as client:
        await post(client, [nanos, micros, millis])
    items = {i.entity_id: i.event_timestamp.microsecond for i in await everything(stored, TENANT)}
    assert items == {"1": 123_456, "2": 123_321, "3": 123_000}


async def test_the_events_of_one_transaction_share_one_instant_across_requests(server, stored):
    block = {"id": "571:53195832", "total_order": 1, "data_collection_order": 1}
    first = change("c", ANNE, transaction=block, lsn=1)
    second = change("u", {**ANNE, "id": 2}, transaction={**block, "total_order": 2}, ts_ms=TS_MS + 40, lsn=2)
    async with server.client() as client:
        await post(client, first)
        await post(client, second)
    items = await everything(stored, TENANT)
    assert [i.entity_id for i in items] == ["1", "2"]
    assert items[0].event_timestamp == items[1].event_timestamp


async def test_each_table_may_name_its_key_column(server, stored):
    async with server.client() as client:
        response = await post(
            client,
            [change("c", ANNE, lsn=1), change("c", {"code": "Z1"}, table="zones", lsn=2)],
            params={"keys": "public.zones:code"},
        )
        bad = await post(client, change("c", ANNE), params={"keys": "zones"})
    assert response.status_code == 200
    assert [(i.table_name, i.entity_id) for i in await everything(stored, TENANT)] == [
        ("public.customers", "1"),
        ("public.zones", "Z1"),
    ]
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["field"] == "keys"


def unscaled(value: int) -> str:
    return base64.b64encode(value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)).decode()


def wkb_point(x, y):
    return struct.pack("<BIdd", 1, 1, x, y)


def ewkb_line(points, srid):
    body = struct.pack("<BII", 1, 2 | 0x20000000, srid) + struct.pack("<I", len(points))
    return body + b"".join(struct.pack("<dd", *p) for p in points)


TYPED_COLUMNS = [
    column("id", "int32"),
    column("price", "bytes", "org.apache.kafka.connect.data.Decimal", parameters={"scale": "2"}, version=1),
    column(
        "ratio",
        "struct",
        "io.debezium.data.VariableScaleDecimal",
        fields=[column("scale", "int32"), column("value", "bytes")],
    ),
    column("born", "int32", "io.debezium.time.Date"),
    column("opens", "int32", "io.debezium.time.Time"),
    column("closes", "int64", "io.debezium.time.MicroTime"),
    column("tick", "int64", "io.debezium.time.NanoTime"),
    column("seen_ms", "int64", "io.debezium.time.Timestamp"),
    column("seen", "int64", "io.debezium.time.MicroTimestamp"),
    column("seen_ns", "int64", "io.debezium.time.NanoTimestamp"),
    column("forever", "int64", "io.debezium.time.Timestamp"),
    column("updated", "string", "io.debezium.time.ZonedTimestamp"),
    column("doc", "string", "io.debezium.data.Json"),
    column("ref", "string", "io.debezium.data.Uuid"),
    column(
        "location",
        "struct",
        "io.debezium.data.geometry.Point",
        fields=[column("x", "double"), column("y", "double"), column("wkb", "bytes"), column("srid", "int32")],
    ),
    column(
        "route",
        "struct",
        "io.debezium.data.geometry.Geometry",
        fields=[column("wkb", "bytes"), column("srid", "int32")],
    ),
    column("tags", "array", items={"type": "int64", "name": "io.debezium.time.MicroTimestamp"}),
]
TYPED_ROW = {
    "id": 1,
    "price": "B/4=",  # 20.46, the value of the issue
    "ratio": {"scale": 3, "value": unscaled(-12345)},
    "born": 19737,  # 2024-01-15
    "opens": 37_800_500,  # 10:30:00.5
    "closes": 79_200_000_001,  # 22:00:00.000001
    "tick": 1_000_000_007,  # 00:00:01.000000007
    "seen_ms": 1_705_314_120_123,
    "seen": 1_529_507_596_945_104,  # "2018-06-20 15:13:16.945104", the documentation's example
    "seen_ns": 1_529_507_596_945_104_789,
    "forever": 9_223_372_036_825_200_000,  # PostgreSQL's 'infinity'
    "updated": "2024-01-15T10:42:00.123456Z",
    "doc": '{"a": [1, 2.5, null]}',
    "ref": "5a4f2b9e-2f0e-4d6a-8a54-2d0a5b1c9e77",
    "location": {"x": 103.8, "y": 1.3, "wkb": base64.b64encode(wkb_point(103.8, 1.3)).decode(), "srid": None},
    "route": {"wkb": base64.b64encode(ewkb_line([(103.8, 1.3), (103.9, 1.35)], 4326)).decode(), "srid": 4326},
    "tags": [0, 1_000_001],
}


async def test_logical_types_are_decoded_into_what_the_source_held(server, stored):
    async with server.client() as client:
        response = await post(client, {"schema": envelope_schema(TYPED_COLUMNS), "payload": change("c", TYPED_ROW)})
    assert response.status_code == 200, response.text
    [item] = await everything(stored, TENANT)
    text = bytes(item.entity_state).decode()
    assert '"price":20.46' in text  # a JSON number with the source's digits, not "B/4="
    assert json.loads(text) == {
        "id": 1,
        "price": 20.46,
        "ratio": -12.345,
        "born": "2024-01-15",
        "opens": "10:30:00.5",
        "closes": "22:00:00.000001",
        "tick": "00:00:01.000000007",
        "seen_ms": "2024-01-15T10:22:00.123",
        "seen": "2018-06-20T15:13:16.945104",
        "seen_ns": "2018-06-20T15:13:16.945104789",
        "forever": "infinity",
        "updated": "2024-01-15T10:42:00.123456Z",
        "doc": {"a": [1, 2.5, None]},
        "ref": "5a4f2b9e-2f0e-4d6a-8a54-2d0a5b1c9e77",
        "location": {"type": "Point", "coordinates": [103.8, 1.3]},
        "route": {"type": "LineString", "coordinates": [[103.8, 1.3], [103.9, 1.35]]},
        "tags": ["1970-01-01T00:00:00", "1970-01-01T00:00:01.000001"],
    }


async def test_a_delete_is_keyed_by_its_decoded_before_row(server, stored):
    columns = [column("id", "bytes", "org.apache.kafka.connect.data.Decimal", parameters={"scale": "0"})]
    body = {"schema": envelope_schema(columns), "payload": change("d", None, before={"id": unscaled(4242)})}
    async with server.client() as client:
        response = await post(client, body)
    assert response.status_code == 200, response.text
    [item] = await everything(stored, TENANT)
    assert (item.op, item.entity_id) == ("d", "4242")


async def test_a_message_that_is_no_kind_the_sink_sends_is_a_400_naming_it(server, stored):
    async with server.client() as client:
        response = await post(client, [change("c", ANNE), {"status": "MAYBE", "ts_ms": 1, "id": "x"}])
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"row": 1, "field": "op"}
    assert await everything(stored, TENANT) == []
