"""The size limits of ingested events: an event (an NDJSON line, an array item) over ``MSR_MAX_EVENT_BYTES``, or an
``entity_state`` nesting deeper than ``MSR_MAX_STATE_DEPTH``, fails its batch with a 400 naming the row and field,
and nothing of the batch is stored."""

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
