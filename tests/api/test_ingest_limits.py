"""The size limits of ingested events: an event (an NDJSON line, an array item, a Debezium message) over
``MSR_MAX_EVENT_BYTES``, or a state (``entity_state``, a Debezium row) nesting deeper than ``MSR_MAX_STATE_DEPTH``,
fails its batch with a 400 naming the row and field, and nothing of the batch is stored."""

import json
import uuid

import pytest

from app.domain.ingest import nesting_depth
from tests.api.events import event, everything
from tests.support import bearer, make_token, serve

TENANT = uuid.UUID(int=11)
USER = bearer(make_token("writer", TENANT))
MAX_EVENT = 4096
MAX_DEPTH = 8


def nested(depth: int) -> dict:
    """An object nesting ``depth`` deep (objects and arrays alternate; the brackets in the string do not count)."""
    state: dict = {"leaf": "[{[{"}
    for level in range(1, depth, 2):
        state = {"x": [state]} if level + 1 < depth else {"x": state}
    return state


@pytest.mark.parametrize(
    ("text", "depth"),
    [(b"{}", 1), (b'{"a": [1, {"b": []}]}', 4), (b'{"s": "{[{[\\"{"}', 1), (b'[[[]], {"a": {}}]', 3)],
)
def test_nesting_depth_ignores_brackets_inside_strings(text, depth):
    assert nesting_depth(text) == depth


@pytest.fixture
async def limited(settings):
    async with serve(settings.replace(max_event_bytes=MAX_EVENT, max_state_depth=MAX_DEPTH)) as running:
        yield running


async def test_events_within_the_limits_are_accepted(limited, stored):
    body = [event(1, entity_state=nested(MAX_DEPTH)), event(2, entity_state={"pad": "x" * (MAX_EVENT - 300)})]
    async with limited.client() as client:
        answer = await client.post("/v1/ingest/events", json=body, headers=USER)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"] == {"accepted": 2, "duplicates": 0}


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (event(9, entity_state={"pad": "x" * MAX_EVENT}), "entity_state"),
        (event(9, entity_state=nested(MAX_DEPTH + 1)), "entity_state"),
    ],
)
@pytest.mark.parametrize("ndjson", [False, True])
async def test_an_event_over_a_limit_fails_its_batch_naming_the_row(limited, stored, bad, field, ndjson):
    rows = [event(1), bad]
    async with limited.client() as client:
        if ndjson:
            body = "\n".join(json.dumps(row) for row in rows)
            headers = {**USER, "Content-Type": "application/x-ndjson"}
            answer = await client.post("/v1/ingest/events", content=body, headers=headers)
        else:
            answer = await client.post("/v1/ingest/events", json=rows, headers=USER)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["row"] == 1
    # An NDJSON line over the limit is refused before it is read, as a whole (no field).
    assert error["details"]["field"] == (None if ndjson and "pad" in bad["entity_state"] else field)
    assert "MSR_MAX" in error["message"]
    assert await everything(stored, TENANT) == []


# POST /v1/ingest/debezium: the same limits, on each message and on the row it records.


def change(i: int, op: str = "c", *, row: dict | None = None) -> dict:
    """A bare Debezium row change of ``public.vehicles`` (its row in ``after``, or in ``before`` for a delete)."""
    row = {"id": i, **(row or {})}
    source = {"ts_ms": 1_770_000_000_000 + i, "schema": "public", "table": "vehicles", "lsn": i}
    return {"before": row if op == "d" else None, "after": None if op == "d" else row, "source": source, "op": op}


def with_json_column(message: dict) -> dict:
    """``message`` with a schema whose ``doc`` column is ``io.debezium.data.Json`` (decoded into a document)."""
    columns = [{"field": "id", "type": "int32"}, {"field": "doc", "type": "string", "name": "io.debezium.data.Json"}]
    row = {"type": "struct", "optional": True, "fields": columns}
    schema = {"type": "struct", "name": "msr.public.vehicles.Envelope", "fields": [{"field": "after", **row}]}
    return {"schema": schema, "payload": message}


async def post_debezium(server, body) -> object:
    async with server.client() as client:
        headers = {**USER, "Content-Type": "application/json"}
        return await client.post("/v1/ingest/debezium", content=json.dumps(body), headers=headers)


async def test_debezium_messages_within_the_limits_are_accepted(limited, stored):
    body = [
        change(1, row={"state": nested(MAX_DEPTH - 1)}),
        change(2, row={"pad": "x" * (MAX_EVENT - 300)}),
        change(3, "d", row={"state": nested(MAX_DEPTH - 1)}),
        with_json_column(change(4, row={"doc": json.dumps(nested(MAX_DEPTH - 1))})),
    ]
    answer = await post_debezium(limited, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["accepted"] == 4
    assert len(await everything(stored, TENANT)) == 4


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        pytest.param(change(9, row={"pad": "x" * MAX_EVENT}), None, id="message-too-large"),
        pytest.param(change(9, row={"state": nested(MAX_DEPTH)}), "after", id="after-too-deep"),
        pytest.param(change(9, "d", row={"state": nested(MAX_DEPTH)}), "before", id="before-too-deep"),
        pytest.param(with_json_column(change(9, row={"state": nested(MAX_DEPTH)})), "payload.after", id="enveloped"),
        pytest.param(
            with_json_column(change(9, row={"doc": json.dumps(nested(MAX_DEPTH))})), "payload.after", id="json-column"
        ),
    ],
)
async def test_a_debezium_message_over_a_limit_fails_its_batch_naming_the_row(limited, stored, bad, field):
    answer = await post_debezium(limited, [change(1), bad])
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"] == {"row": 1, "field": field}
    assert "MSR_MAX" in error["message"]
    assert await everything(stored, TENANT) == []


async def test_a_single_debezium_message_over_the_size_limit_is_refused(limited, stored):
    answer = await post_debezium(limited, change(9, row={"pad": "x" * MAX_EVENT}))
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["details"] == {"row": 0, "field": None}
    assert await everything(stored, TENANT) == []
