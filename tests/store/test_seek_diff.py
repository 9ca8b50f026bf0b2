"""Diff-seek against the reference model: a viewer whose picture is the state at one instant, sent the diff of a
seek by the engine (outbox, pump) from the store's ``seek_diff``, holds exactly the state at the target, forward
and backward, across deletes and re-creates, and across a snapshot; a far seek, or a viewer with no picture yet,
gets a full state instead."""

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.live.source import StoreEventSource
from playback.instants import format_timestamp, to_micros
from playback.outbox import ViewerOutbox
from playback.runner import Viewer
from store.events import EventFilters, EventStore, NewEvent
from store.playback import PlaybackStore
from store.pool import Database
from store.snapshots import SnapshotStore
from tests.store.model import BASE, Ev, model_state

EXAMPLES = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
SPAN_S = 60
# A few instants, so that events share them and seeks land on them, between them and outside the history.
_instants = st.integers(0, SPAN_S).map(lambda s: BASE + timedelta(seconds=s))
_targets = st.integers(-1, SPAN_S + 1).map(lambda s: BASE + timedelta(seconds=s, microseconds=500_000 * (s % 2)))


@st.composite
def histories(draw: st.DrawFn) -> list[Ev]:
    """Creates, updates, deletes and re-creates of a few entities of two tables; many share timestamps."""
    entities = [("public.a", "1"), ("public.a", "2"), ("b", "1"), ("b", "é")]
    history = []
    for n in range(draw(st.integers(0, 30))):
        table, entity = draw(st.sampled_from(entities))
        op = draw(st.sampled_from("cuurdd"))
        history.append(Ev(table, entity, op, draw(_instants), None if op == "d" else json.dumps({"n": n})))
    return history


class Client:
    """What a browser does with the messages: a picture of entities, and the position it is at."""

    def __init__(self) -> None:
        self.picture: dict[tuple[str, str], tuple[str, Any, str]] = {}
        self.position: str | None = None
        self.kinds: list[str] = []
        self.seq = 0
        self.received = asyncio.Event()

    async def send(self, raw: bytes) -> None:
        message = json.loads(raw)
        assert message["seq"] == self.seq + 1
        self.seq = message["seq"]
        if message["type"] == "state":
            if message["chunk"] == 1:
                self.picture = {}
            self.apply(message["entities"])
            if message["chunk"] == message["chunks"]:
                self.position = message["timestamp"]
                self.kinds.append("state")
                self.received.set()
            return
        assert message["type"] == "events"
        assert message.get("seek") is True
        assert message["from"] == self.position
        self.apply(message["events"])
        self.position = message["to"]
        self.kinds.append("seek")
        self.received.set()

    def apply(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            key = (item["table_name"], item["entity_id"])
            if item["op"] == "d":
                self.picture.pop(key, None)
            else:
                self.picture[key] = (item["op"], item["entity_state"], item["event_timestamp"])


def expected(history: list[Ev], at: datetime) -> dict[tuple[str, str], tuple[str, Any, str]]:
    return {
        key: (op, json.loads(state), format_timestamp(to_micros(ts)))
        for key, (op, state, ts) in model_state(history, at, EventFilters()).items()
    }


async def seek_through(source: StoreEventSource, targets: list[datetime], within_s: float) -> list[Client]:
    """A viewer attached at the first target, then sought to each next one: the client after each step."""
    client = Client()
    viewer = Viewer(ViewerOutbox(to_micros(targets[0]), diff_seek_within_us=round(within_s * 1_000_000)))
    pump = asyncio.create_task(viewer.pump(client.send, source.state, source.seek_diff))
    steps = []
    try:
        for number, target in enumerate(targets):
            if number:
                viewer.reset(to_micros(target))
            await asyncio.wait_for(client.received.wait(), 10)
            client.received.clear()
            assert client.position == format_timestamp(to_micros(target))
            steps.append((client.kinds[-1], dict(client.picture)))
    finally:
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
    return steps


async def history_source(
    db: Database, events: EventStore, history: list[Ev], snapshots: SnapshotStore | None = None, checkpoint=None
) -> StoreEventSource:
    """The history of a new tenant, with a checkpoint ``(instant, tables)`` taken after it when asked."""
    tenant = uuid.uuid4()
    await events.ingest([NewEvent(tenant, e.table, e.entity, e.op, e.state, e.ts) for e in history])
    if snapshots is not None and checkpoint is not None:
        await snapshots.take_checkpoint(tenant, *checkpoint)
    return StoreEventSource(PlaybackStore(db), tenant, work_mem_mb=lambda: None, state_slots=asyncio.Semaphore(1))


@EXAMPLES
@given(
    history=histories(),
    targets=st.lists(_targets, min_size=2, max_size=5),
    checkpoint=st.none() | st.tuples(_instants, st.sampled_from([(), ("public.a",)])),
)
async def test_after_each_near_seek_forward_or_backward_the_picture_is_the_state_at_the_target(
    db, events, snapshots, history, targets, checkpoint
):
    source = await history_source(db, events, history, snapshots, checkpoint)
    steps = await seek_through(source, targets, within_s=SPAN_S * 2)
    assert [kind for kind, _ in steps] == ["state"] + ["seek"] * (len(targets) - 1)
    for target, (_, picture) in zip(targets, steps, strict=True):
        assert picture == expected(history, target)


async def test_a_far_seek_sends_the_state(db, events):
    history = [Ev("t", "1", "c", BASE, "{}"), Ev("t", "1", "d", BASE + timedelta(seconds=30), None)]
    source = await history_source(db, events, history)
    targets = [BASE + timedelta(seconds=s) for s in (0, 10, 40, 35)]
    steps = await seek_through(source, targets, within_s=10)
    assert [kind for kind, _ in steps] == ["state", "seek", "state", "seek"]
    for target, (_, picture) in zip(targets, steps, strict=True):
        assert picture == expected(history, target)
