"""Random pushes, slow viewers, seeks and reconnects: what a viewer applies is always the true state."""

from datetime import datetime

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from playback.frames import Frame
from playback.messages import to_micros
from playback.outbox import EncodedFrame, StateChunk, StateNeeded, ViewerOutbox
from tests.playback.build import event

START = 1_700_000_000 * 1_000_000
LENGTH = 200


def micros(text: str) -> int:
    return to_micros(datetime.fromisoformat(text))


def entities_at(events, position: int) -> list:
    """The state at ``position``: the latest event per entity, deleted entities left out."""
    latest = {}
    for e in events:
        if e.timestamp <= position:
            latest.pop(e.key, None)
            latest[e.key] = e
    return [e for e in latest.values() if e.op != "d"]


def picture_at(events, position: int) -> dict:
    return {e.key: msgspec.json.decode(e.entity_state) for e in entities_at(events, position)}


class Viewer:
    """A client: checks numbering, applies state chunks and events frames."""

    def __init__(self) -> None:
        self.seq = 0
        self.picture: dict = {}
        self.position: int | None = None  # None while a state is incomplete

    def apply(self, message: bytes) -> None:
        body = msgspec.json.decode(message)
        assert body["seq"] == self.seq + 1, "seq must increase by exactly one"
        self.seq = body["seq"]
        if body["type"] == "state":
            if body["chunk"] == 1:
                self.picture = {}
            self.position = micros(body["timestamp"]) if body["chunk"] == body["chunks"] else None
            items = body["entities"]
        else:
            assert self.position == micros(body["from"]), "frames must continue the viewer's picture"
            self.position = micros(body["to"])
            items = body["events"]
        for item in items:
            key = (item["table_name"], item["entity_id"])
            if item["op"] == "d":
                self.picture.pop(key, None)
            else:
                self.picture[key] = item["entity_state"]


_operations = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(min_value=1, max_value=40)),
        st.tuples(st.just("hand"), st.integers(min_value=1, max_value=6)),
        st.tuples(st.just("deliver"), st.integers(min_value=1, max_value=6)),
        st.tuples(st.just("seek"), st.integers(min_value=0, max_value=LENGTH)),
        st.just(("reconnect",)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    stamps=st.lists(st.integers(min_value=0, max_value=LENGTH), max_size=80),
    entities=st.lists(st.sampled_from("abcdef"), min_size=80, max_size=80),
    ops=st.lists(st.sampled_from("crud"), min_size=80, max_size=80),
    operations=_operations,
    bounds=st.fixed_dictionaries(
        {
            "max_frames": st.integers(min_value=1, max_value=4),
            "max_bytes": st.integers(min_value=100, max_value=3000),
            "max_conflated_entities": st.integers(min_value=1, max_value=6),
            "history_frames": st.integers(min_value=1, max_value=6),
            "history_bytes": st.integers(min_value=100, max_value=3000),
        }
    ),
    chunk_size=st.integers(min_value=1, max_value=4),
)
def test_a_viewer_always_sees_exactly_the_state_at_its_position_within_bounded_memory(
    stamps, entities, ops, operations, bounds, chunk_size
):
    events = [
        event(seq, START + stamp, entity, op)
        for seq, (stamp, entity, op) in enumerate(zip(sorted(stamps), entities, ops, strict=False), start=1)
    ]
    cursor = START  # the session's sent_to
    outbox = ViewerOutbox(cursor, **bounds)
    viewer = Viewer()
    wire: list[bytes] = []  # handed out, not yet delivered
    streaming: list[StateChunk] = []  # the rest of the state being streamed
    request: StateNeeded | None = None

    def hand_out() -> bool:
        """Move one message onto the wire; False when there is none."""
        nonlocal request, streaming
        if request is not None and streaming:
            message = outbox.state_message(request, streaming.pop(0))
            if message is not None:
                wire.append(message)
                return True
            request, streaming = None, []
        item = outbox.next_message()
        if item is None:
            return False
        if isinstance(item, StateNeeded):
            entities_now = entities_at(events, item.position)
            parts = [entities_now[i : i + chunk_size] for i in range(0, len(entities_now), chunk_size)] or [[]]
            request = item
            streaming = [
                StateChunk.of(item.position, part, chunk=n, chunks=len(parts)) for n, part in enumerate(parts, start=1)
            ]
            return True
        wire.append(item)
        return True

    for operation in operations:
        match operation:
            case ("push", span):
                to = min(START + LENGTH, cursor + span)
                if to > cursor:
                    shared = EncodedFrame.of(
                        Frame(cursor, to, tuple(e for e in events if cursor < e.timestamp <= to), 0.0)
                    )
                    outbox.push(shared)
                    cursor = to
            case ("hand", count):
                for _ in range(count):
                    hand_out()
            case ("deliver", count):
                for _ in range(min(count, len(wire))):
                    viewer.apply(wire.pop(0))
            case ("seek", offset):
                cursor = START + offset
                outbox.reset(cursor)
            case ("reconnect",):
                # The connection drops: what was handed out but not delivered is lost.
                wire.clear()
                request, streaming = None, []
                wire.extend(outbox.resume(viewer.seq) or [])
        assert outbox.pending_frames <= bounds["max_frames"]
        assert outbox.pending_bytes <= bounds["max_bytes"]
        assert outbox.history_bytes <= bounds["history_bytes"]
        if viewer.position is not None:
            assert viewer.picture == picture_at(events, viewer.position)

    # Let the viewer catch up completely: it ends at the session's position with the true state.
    while wire or hand_out():
        while wire:
            viewer.apply(wire.pop(0))
    assert viewer.position == cursor
    assert viewer.picture == picture_at(events, cursor)
