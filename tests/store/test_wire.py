"""Events and states as wire text made by PostgreSQL (``store.wire``): byte for byte what the engine made from
``StoredEvent`` rows before (one ``ChangeEvent`` per row, encoded by ``playback.messages.encode_events``), for
random histories with unicode names and large, nested ``entity_state``; and played through a session, exactly the
reference model's events."""

import asyncio
import itertools
import json
import uuid
from datetime import timedelta

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.live.source import StoreEventSource
from playback.frames import ChangeEvent
from playback.instants import to_micros
from playback.messages import encode_events
from playback.raw import EventChunk
from playback.session import PlaybackSession
from store.events import EventFilters, EventStore, NewEvent, StoredEvent
from store.playback import PlaybackStore
from store.pool import Database
from store.wire import WireReader
from tests.store.model import BASE, Ev, model_events, model_state, read_events, read_state, stored

EXAMPLES = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
SPAN_US = 20 * 60 * 1_000_000

# PostgreSQL text holds any character but NUL; lone surrogates are not text.
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=8)
_names = _text | st.sampled_from(["public.a", "b", 'q"uote', "back\\slash", "tab\there", "é", "日本", "😀"])
_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
    | st.just("x" * 20_000)
)
_values = st.recursive(_leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4))
_states = st.tuples(st.dictionaries(_text, _values, max_size=5), st.booleans(), st.booleans()).map(
    # Stored verbatim, so spelled in several ways: escaped or not, compact or spaced.
    lambda spec: json.dumps(spec[0], ensure_ascii=spec[1], separators=(",", ":") if spec[2] else (", ", ": "))
)
_instants = st.integers(0, SPAN_US).map(lambda us: BASE + timedelta(microseconds=us)) | st.sampled_from(
    [BASE + timedelta(minutes=m) for m in (1, 2, 3)]
)


@st.composite
def histories(draw) -> list[Ev]:
    """Creates, updates, deletes and re-creates of a few entities with unicode names; some share timestamps."""
    entities = draw(st.lists(st.tuples(_names, _names), min_size=1, max_size=4, unique=True))
    history = []
    for _ in range(draw(st.integers(0, 30))):
        table, entity = draw(st.sampled_from(entities))
        op = draw(st.sampled_from("cuuurd"))
        history.append(Ev(table, entity, op, draw(_instants), None if op == "d" else draw(_states)))
    return history


def old_path(item: StoredEvent) -> ChangeEvent:
    """How the engine saw a stored event before (``app.live.source.change_event`` before issue 10)."""
    state = bytes(item.entity_state)
    return ChangeEvent(
        item.seq,
        to_micros(item.event_timestamp),
        item.table_name,
        item.entity_id,
        item.op,  # type: ignore[arg-type]
        None if state == b"null" else msgspec.Raw(state),
    )


@pytest.fixture
def wire(db: Database) -> WireReader:
    return WireReader(db, chunk_size=3)


async def ingest(events: EventStore, tenant: uuid.UUID, history: list[Ev]) -> None:
    await events.ingest([NewEvent(tenant, e.table, e.entity, e.op, e.state, e.ts) for e in history])


@EXAMPLES
@given(history=histories(), bounds=st.tuples(_instants, _instants).map(sorted), limit=st.none() | st.integers(1, 8))
async def test_wire_events_are_the_bytes_the_engine_encoded_from_stored_events(events, wire, history, bounds, limit):
    tenant = uuid.uuid4()
    await ingest(events, tenant, history)
    start, end = bounds
    before = [old_path(item) for item in await read_events(events, tenant, start, end, EventFilters(), limit=limit)]
    got = await wire.events(tenant, start, end, limit=limit)
    chunk = EventChunk.packed(got.body, got.timestamps, got.seqs, got.lengths)
    assert got.count == len(chunk) == len(before)
    assert msgspec.Raw(b"[" + chunk.body + b"]") == encode_events(before)
    assert list(chunk.timestamps) == [e.timestamp for e in before]
    assert list(chunk.seqs) == [e.seq for e in before]
    assert list(chunk) == before
    for lo, hi in itertools.combinations(range(len(before) + 1), 2):
        assert chunk.text(lo, hi) == bytes(encode_events(before[lo:hi]))[1:-1]


@EXAMPLES
@given(history=histories(), at=_instants)
async def test_wire_state_chunks_hold_the_bytes_of_every_item_of_the_state_once(events, wire, history, at):
    tenant = uuid.uuid4()
    await ingest(events, tenant, history)
    before = sorted(
        bytes(encode_events([old_path(item)]))[1:-1] for item in await read_state(events, tenant, at, EventFilters())
    )
    chunks = [(count, body) async for count, body in wire.state_chunks(tenant, at)]
    items = sorted(
        bytes(item) for _, body in chunks for item in msgspec.json.decode(b"[" + body + b"]", type=list[msgspec.Raw])
    )
    assert items == before
    assert len(before) == len(model_state(history, at, EventFilters()))
    assert all(count == len(chunks) == -(-len(before) // 3) for count, _ in chunks)


@EXAMPLES
@given(history=histories(), limit=st.integers(1, 5), frame_events=st.integers(1, 4))
async def test_a_session_fed_from_the_store_frames_exactly_the_reference_models_events(
    db, events, history, limit, frame_events
):
    tenant = uuid.uuid4()
    await ingest(events, tenant, history)
    source = StoreEventSource(PlaybackStore(db), tenant, work_mem_mb=lambda: None, state_slots=asyncio.Semaphore(1))
    start, end = to_micros(BASE), to_micros(BASE) + SPAN_US
    session = PlaybackSession(start, end, max_frame_events=frame_events, max_buffered_events=limit)
    session.start(0.0, speed=1000.0)
    played: list[ChangeEvent] = []
    now = 0.0
    while session.sent_to < end:
        request = session.needs_data()
        if request is not None:
            batch = await source.events(request.after, request.upto, limit)
            assert session.feed(batch.events, after=request.after, upto=batch.reached)
        now += 0.1
        for frame in session.frames_due(now):
            assert [(e.timestamp, e.seq) for e in frame.events] == sorted((e.timestamp, e.seq) for e in frame.events)
            played.extend(frame.events)
    expected = model_events(history, BASE, BASE + timedelta(microseconds=SPAN_US), EventFilters())
    assert [
        (
            e.table_name,
            e.entity_id,
            e.op,
            None if e.entity_state is None else bytes(e.entity_state).decode(),
            e.timestamp,
        )
        for e in played
    ] == [(table, entity, op, state, to_micros(ts)) for table, entity, op, state, ts in expected]
    assert len(played) == len([e for e in stored(history) if e.ts > BASE])
