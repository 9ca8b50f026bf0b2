"""Events kept as the JSON text viewers receive, so that playing them makes no Python object per event.

The store hands the engine an :class:`EventChunk`: the wire items of consecutive events (each the JSON text of a
:class:`~playback.messages.WireEvent`, exactly as :func:`~playback.messages.encode_events` writes it) joined by
commas, and beside them, per event, its timestamp, its ``seq`` and where the next item starts, as packed arrays.
The session cuts frames out of chunks by timestamp (a binary search) and joins the slices of text into a frame's
:class:`RawEvents`, which is spliced into every viewer's ``events`` message as it is.

Nothing looks inside the text on the way. The few paths that need each event's entity key and op (conflating a
slow viewer's frames, the notes between replicas) iterate a :class:`RawEvents`, which decodes it then: they are
rare, and decoding there costs less than carrying an object per event for every frame.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate

import msgspec

from playback.frames import ChangeEvent, Op
from playback.messages import wire_event


class _Item(msgspec.Struct, gc=False):
    """A wire item as decoded: ``entity_state`` as its JSON text (``null`` for a delete)."""

    entity_id: str
    table_name: str
    op: Op
    entity_state: msgspec.Raw


_WIRE_ITEMS: msgspec.json.Decoder[list[_Item]] = msgspec.json.Decoder(list[_Item])
_NULL = b"null"
_encode = msgspec.json.Encoder().encode


def int64s(packed: bytes) -> array[int]:
    """Big-endian 64-bit integers, as PostgreSQL's ``int8send`` writes them, as an array."""
    values = array("q")
    values.frombytes(packed)
    if sys.byteorder == "little":
        values.byteswap()
    return values


def wire_item(event: ChangeEvent) -> bytes:
    """The JSON text of one event as viewers receive it."""
    return _encode(wire_event(event))


class EventChunk:
    """Consecutive events in ``(timestamp, seq)`` order, as wire items joined by commas, with packed arrays beside.

    ``nexts[i]`` is where the item after event ``i`` starts in ``body`` (past the comma): item ``i`` is
    ``body[nexts[i - 1]:nexts[i] - 1]``, with ``nexts[-1] == len(body) + 1``.
    """

    __slots__ = ("body", "nexts", "seqs", "timestamps")

    def __init__(self, body: bytes, timestamps: array[int], seqs: array[int], nexts: array[int]) -> None:
        if not len(timestamps) == len(seqs) == len(nexts):
            raise ValueError("a chunk needs a timestamp, a seq and an item end for every event")
        if (nexts[-1] if nexts else 0) != (len(body) + 1 if body else 0):
            raise ValueError("the item ends of a chunk do not match its text")
        self.body = body
        self.timestamps = timestamps
        self.seqs = seqs
        self.nexts = nexts

    @classmethod
    def packed(cls, body: bytes, timestamps: bytes, seqs: bytes, lengths: bytes) -> EventChunk:
        """A chunk from the store's packed columns: big-endian int64s, ``lengths`` of each item plus its comma."""
        return cls(body, int64s(timestamps), int64s(seqs), array("q", accumulate(int64s(lengths))))

    @classmethod
    def of(cls, events: Iterable[ChangeEvent]) -> EventChunk:
        """Encode events (in order) as a chunk: what the store produces, made here (tests, other replicas)."""
        listed = list(events)
        items = [wire_item(event) for event in listed]
        return cls(
            b",".join(items),
            array("q", [event.timestamp for event in listed]),
            array("q", [event.seq for event in listed]),
            array("q", accumulate(len(item) + 1 for item in items)),
        )

    def __len__(self) -> int:
        return len(self.timestamps)

    def __iter__(self) -> Iterator[ChangeEvent]:
        """The events, decoded (for the rare paths that need them as objects)."""
        return iter(RawEvents.join([(self, 0, len(self))]))

    def head(self, count: int) -> EventChunk:
        """The first ``count`` events."""
        end = self.nexts[count - 1] - 1 if count else 0
        return EventChunk(self.body[:end], self.timestamps[:count], self.seqs[:count], self.nexts[:count])

    def text(self, lo: int, hi: int) -> bytes:
        """The items of events ``lo`` to ``hi - 1``, joined by commas."""
        return bytes(self.view(lo, hi))

    def view(self, lo: int, hi: int) -> memoryview:
        """:meth:`text` without copying it."""
        if lo >= hi:
            return memoryview(b"")
        return memoryview(self.body)[self.nexts[lo - 1] if lo else 0 : self.nexts[hi - 1] - 1]


def complete_part(chunk: EventChunk, limit: int, upto: int) -> tuple[EventChunk, int] | int:
    """What of a read of up to ``limit + 1`` events of ``(after, upto]`` is complete, and how far it reaches.

    All of it, up to ``upto``, when it holds ``limit`` events or fewer; else the events before the first instant
    left out, up to just before it. When every event read shares one instant, the answer is that instant alone:
    the caller reads all of its events, however many (a batch never splits an instant).
    """
    stamps = chunk.timestamps
    if len(stamps) <= limit:
        return chunk, upto
    first_left_out = stamps[limit]
    kept = bisect_left(stamps, first_left_out)
    if kept:
        return chunk.head(kept), first_left_out - 1
    return first_left_out


class RawEvents:
    """The events of a frame: one JSON array of wire items, and each event's timestamp and ``seq``.

    Iterated, it yields :class:`~playback.frames.ChangeEvent` objects, decoded from the text when asked.
    """

    __slots__ = ("array", "seqs", "timestamps")

    def __init__(self, array_text: bytes, timestamps: array[int], seqs: array[int]) -> None:
        self.array = array_text
        """The JSON array of the wire items, as sent."""
        self.timestamps = timestamps
        self.seqs = seqs

    @classmethod
    def of(cls, events: Iterable[ChangeEvent]) -> RawEvents:
        """Encode events (in order)."""
        chunk = EventChunk.of(events)
        return cls(b"[" + chunk.body + b"]", chunk.timestamps, chunk.seqs)

    @classmethod
    def join(cls, slices: Sequence[tuple[EventChunk, int, int]]) -> RawEvents:
        """The events ``lo`` to ``hi - 1`` of each ``(chunk, lo, hi)``, in that order; the text is copied once."""
        parts: list[bytes | memoryview] = [b"["]
        timestamps, seqs = array("q"), array("q")
        for chunk, lo, hi in slices:
            if lo < hi:
                if len(parts) > 1:
                    parts.append(b",")
                parts.append(chunk.view(lo, hi))
                timestamps.extend(chunk.timestamps[lo:hi])
                seqs.extend(chunk.seqs[lo:hi])
        parts.append(b"]")
        return cls(b"".join(parts), timestamps, seqs)

    def __len__(self) -> int:
        return len(self.timestamps)

    def __iter__(self) -> Iterator[ChangeEvent]:
        return iter(self._decode())

    def _decode(self) -> list[ChangeEvent]:
        items = _WIRE_ITEMS.decode(self.array)
        return [
            ChangeEvent(
                seq,
                timestamp,
                item.table_name,
                item.entity_id,
                item.op,
                None if bytes(item.entity_state) == _NULL else item.entity_state,
            )
            for item, timestamp, seq in zip(items, self.timestamps, self.seqs, strict=True)
        ]
