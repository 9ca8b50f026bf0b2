"""A viewer with a viewport, on random histories: its picture is always the true state restricted to its box.

Entities move across the box's edges, are deleted and re-created inside or outside it, lose their geometry; the
viewer changes its box (or clears it) while playing, seeks, falls behind and reconnects. The reference model is
the history itself: the state at a position is the latest event per entity, and an entity is in a box when the
bounds of its geometry meet it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Coroutine
from typing import Any

import msgspec
from hypothesis import example, given, settings
from hypothesis import strategies as st

from playback.frames import ChangeEvent, Frame
from playback.outbox import EncodedFrame, StateChunk, StateNeeded, ViewerOutbox
from playback.ports import StatePart
from playback.raw import EventChunk, RawEvents
from playback.viewport import Box, FrameIndexCache, GeometryReader, Viewport, change_view, viewed_diffs
from tests.playback.build import event
from tests.playback.test_outbox_model import START, Viewer, entities_at

LENGTH = 200
GEOMETRY = GeometryReader("geojson")


def finished(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never waits on anything (the readers below answer at once)."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the coroutine waited")


def bounds_of(entity: ChangeEvent) -> tuple[float, float, float, float] | None:
    return GEOMETRY.bounds(bytes(entity.entity_state)) if entity.entity_state is not None else None


def truth(events: list[ChangeEvent], position: int, box: Box | None) -> dict:
    """The model: the state at ``position``, restricted to ``box``."""
    found = {}
    for entity in entities_at(events, position):
        bounds = bounds_of(entity)
        if box is None or (bounds is not None and box.intersects(bounds)):
            found[entity.key] = msgspec.json.decode(entity.entity_state)
    return found


class Client(Viewer):
    """The outbox model's client, which also checks the enter marks and keeps the ``total`` it is told."""

    total: int | None = None

    def apply(self, message: bytes) -> None:
        body = msgspec.json.decode(message)
        items = body["entities"] if body["type"] == "state" else body["events"]
        # Items apply in order: an entity deleted and created again within one frame leaves, then enters.
        held = set() if body["type"] == "state" and body["chunk"] == 1 else set(self.picture)
        for item in items:
            key = (item["table_name"], item["entity_id"])
            if item.get("view") == "enter":
                assert key not in held, "an enter brings what was missing"
                assert item["entity_state"] is not None
            if item["op"] == "d":
                held.discard(key)
            else:
                held.add(key)
        super().apply(message)
        self.total = body.get("total")


def geometry_state(seq: int, x: int, y: int, shape: str) -> dict:
    if shape == "none":
        return {"seq": seq}
    if shape == "point":
        geometry: dict = {"type": "Point", "coordinates": [x, y]}
    elif shape == "line":
        geometry = {"type": "LineString", "coordinates": [[x, y], [x + 2, y + 1]]}
    else:
        geometry = {"type": "Polygon", "coordinates": [[[x, y], [x + 1, y], [x + 1, y + 1], [x, y]]]}
    # Half as the seed keeps it (a Feature as a string), half as a plain geometry object.
    feature = {"type": "Feature", "geometry": geometry, "properties": {}}
    return {"seq": seq, "geojson": msgspec.json.encode(feature).decode() if seq % 2 else geometry}


_coordinate = st.integers(min_value=0, max_value=10)
_boxes = st.one_of(
    st.none(),
    st.tuples(_coordinate, _coordinate, _coordinate, _coordinate).map(
        lambda c: Box(c[0], min(c[1], c[3]), c[2], max(c[1], c[3]))
    ),
)
_operations = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(min_value=1, max_value=40)),
        st.tuples(st.just("push"), st.integers(min_value=1, max_value=10)),
        st.tuples(st.just("hand"), st.integers(min_value=1, max_value=6)),
        st.tuples(st.just("deliver"), st.integers(min_value=1, max_value=6)),
        st.tuples(st.just("deliver"), st.integers(min_value=1, max_value=6)),
        st.tuples(st.just("seek"), st.integers(min_value=0, max_value=LENGTH)),
        st.tuples(st.just("view"), _boxes),
        st.tuples(st.just("view"), _boxes),
        st.just(("reconnect",)),
    ),
    min_size=25,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
# Found by a run on a busy machine: a viewer in the box gets a frame that deletes an entity and creates it again.
@example(
    history=[(0, "a", "c", 0, 0, "point"), (139, "a", "d", 0, 0, "point"), (151, "a", "c", 0, 0, "point")],
    operations=[("view", Box(0, 0, 0, 0)), ("seek", 129), ("push", 22)],
    max_frames=1,
    history_frames=1,
    chunk_size=1,
    diff_within=-1,
)
@given(
    history=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=LENGTH),
            st.sampled_from("abcdef"),
            st.sampled_from("crud"),
            _coordinate,
            _coordinate,
            st.sampled_from(["point", "point", "line", "polygon", "none"]),
        ),
        min_size=10,
        max_size=80,
    ),
    operations=_operations,
    max_frames=st.integers(min_value=1, max_value=4),
    history_frames=st.integers(min_value=1, max_value=6),
    chunk_size=st.integers(min_value=1, max_value=4),
    diff_within=st.sampled_from([-1, 50, 1000]),
)
def test_a_boxed_viewer_always_sees_the_state_at_its_position_restricted_to_its_box(
    history, operations, max_frames, history_frames, chunk_size, diff_within
):
    events = [
        event(seq, START + stamp, entity, op, state=None if op == "d" else geometry_state(seq, x, y, shape))
        for seq, (stamp, entity, op, x, y, shape) in enumerate(sorted(history, key=lambda h: h[0]), start=1)
    ]
    cursor = START
    outbox = ViewerOutbox(cursor, max_frames=max_frames, history_frames=history_frames, diff_seek_within_us=diff_within)
    cache = FrameIndexCache(size=3)
    client = Client()
    wire: list[tuple[bytes, Box | None, bool]] = []  # handed out, with the box then and whether it was in force
    streaming: list[StateChunk] = []
    request: StateNeeded | None = None
    box: Box | None = None

    async def states(position: int) -> AsyncGenerator[StatePart, None]:
        entities = entities_at(events, position)
        parts = [entities[i : i + chunk_size] for i in range(0, len(entities), chunk_size)] or [[]]
        for part in parts:
            yield StatePart(len(parts), part)

    async def diffs(since: int, to: int) -> EventChunk:
        low, high = sorted((since, to))
        changed = {e.key for e in events if low < e.timestamp <= high}
        now = {e.key: e for e in entities_at(events, to)}
        return EventChunk.of(now.get(key) or ChangeEvent(0, to, key[0], key[1], "d") for key in sorted(changed))

    read_diff = viewed_diffs(outbox, states, diffs)

    def in_force() -> bool:
        lens = outbox.lens
        return not isinstance(lens, Viewport) or not lens.dirty

    def hand_out() -> bool:
        nonlocal request, streaming
        if request is not None and streaming:
            message = outbox.state_message(request, streaming.pop(0))
            if message is not None:
                wire.append((message, box, in_force()))
                return True
            request, streaming = None, []
        item = outbox.next_message()
        if item is None:
            return False
        if isinstance(item, StateNeeded) and item.since is not None:
            changes = finished(read_diff(item.since, item.position))
            frame = EncodedFrame.of(
                Frame(item.since, item.position, RawEvents.join([(changes, 0, len(changes))]), 0.0), seek=True
            )
            message = outbox.seek_message(item, frame)
            assert message is not None
            wire.append((message, box, in_force()))
        elif isinstance(item, StateNeeded):
            request = item
            streaming = [
                StateChunk.of(item.position, part.entities, chunk=n, chunks=part.chunks)
                for n, part in enumerate(finished(_listed(states(item.position))), start=1)
            ]
        else:
            wire.append((item, box, in_force()))
        return True

    def deliver(count: int) -> None:
        for _ in range(min(count, len(wire))):
            message, shown, clean = wire.pop(0)
            client.apply(message)
            if client.position is not None:
                everything = truth(events, client.position, None)
                # Whatever the viewer holds is exactly as it is at its position: nothing stale, nothing deleted.
                assert {key: everything.get(key) for key in client.picture} == client.picture
                if clean:
                    assert client.picture == truth(events, client.position, shown)
                if client.total is not None:
                    assert client.total == len(everything)

    for operation in operations:
        match operation:
            case ("push", span):
                to = min(START + LENGTH, cursor + span)
                if to > cursor:
                    outbox.push(
                        EncodedFrame.of(Frame(cursor, to, tuple(e for e in events if cursor < e.timestamp <= to), 0.0))
                    )
                    cursor = to
            case ("hand", count):
                for _ in range(count):
                    hand_out()
            case ("deliver", count):
                deliver(count)
            case ("seek", offset):
                cursor = START + offset
                outbox.seek(cursor)
            case ("view", new_box):
                box = new_box
                change_view(outbox, box, GEOMETRY, cache)
            case ("reconnect",):
                wire.clear()
                request, streaming = None, []
                wire.extend((message, box, False) for message in outbox.resume(client.seq) or [])

    while wire or hand_out():
        deliver(len(wire))
    assert client.position == cursor
    assert client.picture == truth(events, cursor, box)


async def _listed(parts: AsyncGenerator[StatePart, None]) -> list[StatePart]:
    return [part async for part in parts]


def test_bounds_are_read_from_the_seeds_feature_string_and_from_geometries():
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [103.8, 1.35]}}
    seed = msgspec.json.encode({"id": 1, "geojson": msgspec.json.encode(feature).decode()})
    assert GEOMETRY.bounds(seed) == (103.8, 1.35, 103.8, 1.35)
    nested = GeometryReader("location.geom")
    polygon = {"type": "Polygon", "coordinates": [[[1, 2], [3, 2], [3, 5], [1, 2]]]}
    assert nested.bounds(msgspec.json.encode({"location": {"geom": polygon}})) == (1, 2, 3, 5)
    collection = {"type": "GeometryCollection", "geometries": [polygon, {"type": "Point", "coordinates": [-4, 9]}]}
    assert nested.bounds(msgspec.json.encode({"location": {"geom": collection}})) == (-4, 2, 3, 9)
    for nothing in ({"id": 1}, {"geojson": None}, {"geojson": "not json"}, {"geojson": {"type": "Point"}}):
        assert GEOMETRY.bounds(msgspec.json.encode(nothing)) is None
    assert GEOMETRY.bounds(b"null") is None


def test_a_box_across_the_antimeridian_holds_both_sides():
    pacific = Box(170, -10, -170, 10)
    assert pacific.intersects((175, 0, 175, 0))
    assert pacific.intersects((-175, 0, -175, 0))
    assert not pacific.intersects((0, 0, 0, 0))
    assert not pacific.intersects((175, 20, 175, 20))
    assert Box(0, 0, 10, 10).intersects((10, 10, 12, 12)), "edges touching count as meeting"
