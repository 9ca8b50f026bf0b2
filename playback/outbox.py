"""A bounded queue of messages per viewer: conflation for viewers that fall behind, numbering, resume history.

Frames are encoded once for all viewers (:meth:`EncodedFrame.of`); a viewer's outbox holds references to
them and splices in its own ``seq`` when it hands one out. The policy, in order:

1. A viewer that keeps up (at most ``max_frames`` pending frames and ``max_bytes`` of their encoded events)
   gets every frame as it is.
2. When a push crosses either bound, all pending frames are merged into one conflated frame covering
   ``(first.from, last.to]``: per entity ``(table_name, entity_id)`` only the latest event is kept, in the
   order of those latest events. So a delete wins over the updates before it, and a create after a delete
   is kept as the latest. The frame says ``"conflated": true``; clients apply ``c``/``r``/``u`` as upserts
   and ``d`` as a removal.
3. When the conflated frame would be too large (more than ``max_conflated_entities`` entities, or more than
   half of ``max_bytes`` encoded, so that conflation is not redone at every push), everything pending is
   dropped and the viewer is resynchronised: it gets a fresh ``state`` at the latest position.

The ``state`` itself is never queued: the queue holds a :class:`StateNeeded` marker and the caller, when it
reaches it, streams the state chunk by chunk through :meth:`ViewerOutbox.state_message`, paced by the
viewer's own connection. Memory per viewer is thus bounded by the pending bounds plus the history bounds.

A seek (:meth:`ViewerOutbox.seek`) near the viewer's picture queues a diff instead: a :class:`StateNeeded` whose
``since`` is the position of the picture the viewer holds once it applies everything handed out, answered by
one ``events`` frame flagged ``seek`` (:meth:`ViewerOutbox.seek_message`) with the net change from ``since`` to
the target. "Near" is ``diff_seek_within_us`` of event time; a viewer without a complete picture (before its
first state, or part-way through one) gets a full ``state`` whatever the distance.

``seq`` numbers are given when a message is handed out, so frames dropped before that leave no gap. The last
messages handed out are kept (``history_frames`` / ``history_bytes``) so that a client that reconnects with
``resume`` gets them again; when they are gone, or when a state was interrupted half-way, it gets a fresh
``state`` instead, numbered right after the client's ``seq``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec

from playback.frames import ChangeEvent, Frame
from playback.instants import MICROS_PER_SECOND, format_timestamp
from playback.messages import Events, State, encode, encode_events
from playback.raw import RawEvents

DIFF_SEEK_WITHIN_US = 10 * 60 * MICROS_PER_SECOND
"""By default a seek within ten minutes of event time of the viewer's picture is sent as a diff."""


@dataclass(frozen=True, slots=True, eq=False)
class EncodedFrame:
    """An ``events`` frame whose events are encoded once, for every viewer."""

    from_: int
    to: int
    events: RawEvents
    body: msgspec.Raw
    conflated: bool = False
    seek: bool = False
    """The net change of a seek from ``from_`` to ``to`` (either way): upserts and deletes, not a slice of history."""
    total: int | None = None
    """For one viewer with a viewport: how many entities exist at ``to``, in view or not."""
    skipped: bool = False
    """A jump over a quiet stretch: no events in ``(from_, to]``, played at once."""

    @classmethod
    def of(cls, frame: Frame, *, conflated: bool = False, seek: bool = False) -> EncodedFrame:
        """Encode a session frame (the session's frames come encoded: their text is taken as it is)."""
        events = frame.events if isinstance(frame.events, RawEvents) else RawEvents.of(frame.events)
        return cls(frame.from_, frame.to, events, msgspec.Raw(events.array), conflated, seek, skipped=frame.skipped)

    @property
    def size(self) -> int:
        """Bytes of the encoded events."""
        return len(self.body)

    def message(self, seq: int) -> bytes:
        """The viewer's message, numbered ``seq``."""
        return encode(
            Events(
                seq=seq,
                from_=format_timestamp(self.from_),
                to=format_timestamp(self.to),
                events=self.body,
                conflated=self.conflated,
                seek=self.seek,
                total=self.total,
                skipped=self.skipped,
            )
        )


@dataclass(frozen=True, slots=True, eq=False)
class StateChunk:
    """Chunk ``chunk`` of ``chunks`` (from 1) of the state at ``position``, encoded once for every viewer."""

    position: int
    chunk: int
    chunks: int
    entities: msgspec.Raw
    total: int | None = None
    """For one viewer with a viewport, on the last chunk: how many entities the state has, in view or not."""

    @classmethod
    def of(cls, position: int, events: msgspec.Raw | Iterable[ChangeEvent], *, chunk: int, chunks: int) -> StateChunk:
        """One chunk of a state: its entities as a JSON array of wire items already (the store's), or to encode."""
        if not 1 <= chunk <= chunks:
            raise ValueError(f"chunk {chunk} of {chunks}: chunks are numbered from 1 to their count")
        return cls(position, chunk, chunks, events if isinstance(events, msgspec.Raw) else encode_events(events))

    @property
    def size(self) -> int:
        """Bytes of the encoded entities."""
        return len(self.entities)

    def message(self, seq: int) -> bytes:
        """The viewer's message, numbered ``seq``."""
        return encode(
            State(
                seq=seq,
                timestamp=format_timestamp(self.position),
                entities=self.entities,
                chunk=self.chunk,
                chunks=self.chunks,
                total=self.total,
            )
        )


Lens = Callable[[EncodedFrame | StateChunk], EncodedFrame | StateChunk]
"""Rewrites what a viewer is handed out, for that viewer alone."""


@dataclass(frozen=True, slots=True, eq=False)
class StateNeeded:
    """The viewer needs the state at ``position`` now; later frames continue from there.

    With ``since``, the viewer holds the complete picture at ``since`` and needs only the net change from there to
    ``position`` (a diff-seek, see :meth:`ViewerOutbox.seek_message`); it may still be sent the full state.
    """

    position: int
    since: int | None = None


class ViewerOutbox:
    """The pending messages of one viewer, bounded; see the module's docstring for the policy.

    An idle viewer is one of thousands on a replica: slots, and the resume history is made at the first message.
    """

    __slots__ = (
        "_diff_within",
        "_head",
        "_history",
        "_history_bytes",
        "_history_frames",
        "_history_limit",
        "_max_bytes",
        "_max_entities",
        "_max_frames",
        "_next_chunk",
        "_next_seq",
        "_pending_bytes",
        "_pending_frames",
        "_pictured",
        "_queue",
        "_streaming",
        "_tail",
        "conflations",
        "lens",
        "resyncs",
    )

    def __init__(
        self,
        position: int,
        *,
        max_frames: int = 50,
        max_bytes: int = 1 << 20,
        max_conflated_entities: int = 10_000,
        history_frames: int = 100,
        history_bytes: int = 1 << 20,
        diff_seek_within_us: int = DIFF_SEEK_WITHIN_US,
    ) -> None:
        """A new viewer, whose first message is the state at ``position``, where the next frame starts.

        A seek at most ``diff_seek_within_us`` of event time from the viewer's picture is sent as a diff (negative:
        never).
        """
        if min(max_frames, max_bytes, max_conflated_entities, history_frames, history_bytes) < 1:
            raise ValueError("every bound of a viewer's outbox must be at least 1")
        self._diff_within = diff_seek_within_us
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._max_entities = max_conflated_entities
        self._history_frames = history_frames
        self._history_limit = history_bytes
        self._queue: deque[EncodedFrame | StateNeeded] = deque([StateNeeded(position)])
        self._pending_frames = 0
        self._pending_bytes = 0
        # Where the next pushed frame must start, and where the viewer is once it applies all handed out.
        self._tail = position
        self._head = position
        # Whether the viewer holds the complete state at _head once it applies everything handed out.
        self._pictured = False
        self._streaming: StateNeeded | None = None
        self._next_chunk = 1
        self._next_seq = 1
        self._history: deque[tuple[int, EncodedFrame | StateChunk]] | None = None
        self._history_bytes = 0
        self.conflations = 0
        """How many times pending frames were conflated."""
        self.resyncs = 0
        """How many times the viewer was sent a fresh state because it fell too far behind or resumed too late."""
        self.lens: Lens | None = None
        """Rewrites each payload as it is handed out (a viewport, :mod:`playback.viewport`); None: sent as is."""

    @property
    def pending_frames(self) -> int:
        return self._pending_frames

    @property
    def pending_bytes(self) -> int:
        """Bytes of the encoded events of the pending frames."""
        return self._pending_bytes

    @property
    def history_bytes(self) -> int:
        return self._history_bytes

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the last message handed out (0 before any)."""
        return self._next_seq - 1

    def push(self, frame: EncodedFrame) -> None:
        """Queue the session's next frame; it must start where the previous one (or the state) ended."""
        if frame.from_ != self._tail:
            raise ValueError(f"a frame from {frame.from_} does not continue the viewer's frames at {self._tail}")
        self._queue.append(frame)
        self._tail = frame.to
        self._pending_frames += 1
        self._pending_bytes += frame.size
        if self._pending_frames > self._max_frames or self._pending_bytes > self._max_bytes:
            self._conflate()

    def reset(self, position: int) -> None:
        """Drop everything pending; the viewer gets the full state at ``position`` next."""
        self._restart(StateNeeded(position))

    def seek(self, position: int) -> None:
        """Drop everything pending; the viewer gets a diff to ``position`` next when it is near, else the state."""
        near = self._pictured and abs(position - self._head) <= self._diff_within
        self._restart(StateNeeded(position, self._head if near else None))

    def review(self) -> None:
        """The lens changed what the viewer sees: after what is pending, a diff from the tail to itself is due.

        The pump asks its diff reader for it (a viewport answers with what the change brings in and takes away).
        A state or diff already due at the tail is enough: the lens rewrites it when it is handed out.
        """
        last = self._queue[-1] if self._queue else None
        if not (isinstance(last, StateNeeded) and last.position == self._tail):
            self._queue.append(StateNeeded(self._tail, self._tail))

    def _restart(self, marker: StateNeeded) -> None:
        position = marker.position
        self._queue = deque([marker])
        self._pending_frames = 0
        self._pending_bytes = 0
        self._tail = position
        self._streaming = None

    def next_message(self) -> bytes | StateNeeded | None:
        """The next message to send, numbered; a :class:`StateNeeded` to stream now; None when idle."""
        if self._streaming is not None:
            raise RuntimeError("the state being streamed must be finished before the next message")
        if not self._queue:
            return None
        item = self._queue.popleft()
        if isinstance(item, StateNeeded):
            self._streaming = item
            self._next_chunk = 1
            if item.since is None:
                self._head = item.position
                self._pictured = False
            return item
        self._pending_frames -= 1
        self._pending_bytes -= item.size
        self._head = item.to
        return self._hand_out(item)

    def state_message(self, request: StateNeeded, chunk: StateChunk) -> bytes | None:
        """The numbered message of the next chunk of the state streamed for ``request``.

        None when ``request`` is stale (a seek or a resync replaced it): the caller stops streaming it and
        asks for the next message.
        """
        if request is not self._streaming:
            return None
        if chunk.position != request.position or chunk.chunk != self._next_chunk:
            raise ValueError(
                f"expected chunk {self._next_chunk} of the state at {request.position}, "
                f"got chunk {chunk.chunk} at {chunk.position}"
            )
        # The first chunk drops the viewer's picture (even when the state answers a diff: a pump that cannot read
        # diffs); the last completes the picture at the state's position.
        self._pictured = chunk.chunk == chunk.chunks
        if chunk.chunk == chunk.chunks:
            self._streaming = None
            self._head = request.position
        else:
            self._next_chunk += 1
        return self._hand_out(chunk)

    def seek_message(self, request: StateNeeded, frame: EncodedFrame) -> bytes | None:
        """The numbered message of the diff asked for by ``request``: a frame flagged ``seek`` from ``since``.

        None when ``request`` is stale (a seek or a resync replaced it).
        """
        if request is not self._streaming:
            return None
        if not frame.seek or (frame.from_, frame.to) != (request.since, request.position):
            raise ValueError(f"expected the diff from {request.since} to {request.position}")
        self._streaming = None
        self._head = request.position
        return self._hand_out(frame)

    def resume(self, seq: int) -> list[bytes] | None:
        """After a reconnect where the client applied up to ``seq``: the messages to send it again.

        None when the history cannot bridge the gap: a fresh state is then queued first, and numbering
        restarts right after ``seq`` so the client sees no gap.
        """
        if seq < 0:
            raise ValueError(f"seq must not be negative, got {seq}")
        history = self._history or ()
        oldest = history[0][0] if history else self._next_seq
        if self._streaming is None and oldest - 1 <= seq <= self.last_seq:
            return [payload.message(number) for number, payload in history if number > seq]
        self._next_seq = seq + 1
        self._history = None
        self._history_bytes = 0
        self._streaming = None
        # The client's picture is unknown now: a diff queued for it would not apply.
        self._pictured = False
        if self._queue and isinstance(self._queue[0], StateNeeded):
            self._queue[0] = StateNeeded(self._queue[0].position)
        else:
            self._queue.appendleft(StateNeeded(self._head))
        self.resyncs += 1
        return None

    def _conflate(self) -> None:
        frames = [item for item in self._queue if isinstance(item, EncodedFrame)]
        latest: dict[tuple[str, str], ChangeEvent] = {}
        for frame in frames:
            for event in frame.events:
                # Re-insert so that the dict keeps the entities in the order of their latest events.
                latest.pop(event.key, None)
                latest[event.key] = event
                if len(latest) > self._max_entities:
                    self._resync()
                    return
        merged = EncodedFrame.of(Frame(frames[0].from_, frames[-1].to, tuple(latest.values()), 0.0), conflated=True)
        if merged.size > self._max_bytes // 2:
            self._resync()
            return
        # A state or seek is only ever due first; a review due later moves to the new tail, after the merged frame.
        first = self._queue[0]
        markers = [first] if isinstance(first, StateNeeded) else []
        reviewed = any(isinstance(item, StateNeeded) for item in list(self._queue)[1:])
        self._queue = deque([*markers, merged, *([StateNeeded(self._tail, self._tail)] if reviewed else [])])
        self._pending_frames = 1
        self._pending_bytes = merged.size
        self.conflations += 1

    def _resync(self) -> None:
        self.reset(self._tail)
        self.resyncs += 1

    def _hand_out(self, payload: EncodedFrame | StateChunk) -> bytes:
        if self.lens is not None:
            payload = self.lens(payload)
        seq = self._next_seq
        self._next_seq += 1
        if self._history is None:
            self._history = deque()
        history = self._history
        history.append((seq, payload))
        self._history_bytes += payload.size
        while len(history) > self._history_frames or self._history_bytes > self._history_limit:
            _, dropped = history.popleft()
            self._history_bytes -= dropped.size
        return payload.message(seq)
