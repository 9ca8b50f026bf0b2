"""The viewport filter: a viewer that sent a box sees only the entities whose geometry intersects it.

A :class:`Viewport` is the lens of one viewer's outbox (:attr:`playback.outbox.ViewerOutbox.lens`): every frame,
state chunk and diff is rewritten by it at the moment it is handed out, so the viewer's history (for ``resume``),
its ``seq`` numbers and its conflation work on what it was really sent. Viewers without a box have no lens and
pay nothing.

What the viewer holds is tracked per viewer: the entities in view (with their bounds, so that a box change knows
which to take away) and the keys of every entity that exists (for the ``total`` count). For each event of a frame:

- the entity exists afterwards and its bounds intersect the box: the item is sent as it is, or marked
  ``"view": "enter"`` when the viewer did not have the entity (every event carries the entity's full state, so
  the item is a complete enter);
- otherwise, when the viewer had the entity: a :class:`~playback.messages.Leave` (an ``op`` ``d`` item marked
  ``"view": "leave"``); else nothing.

Reading the bounds means decoding the events: that is done once per frame for every boxed viewer of the replica
(:class:`FrameIndexCache`); each viewer then only compares bounds and splices the items' text.

A box change takes effect at once for what is handed out next, and queues a diff at the viewer's tail
(:meth:`~playback.outbox.ViewerOutbox.review`); that diff is answered by :meth:`Viewport.box_diff`, which reads
the state there and keeps the entities in the box, and turned into one frame of enters and leaves.
"""

from __future__ import annotations

import contextlib
from array import array
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from typing import Any, Final

import msgspec

from playback.frames import Op
from playback.instants import format_timestamp
from playback.messages import ENTER_PREFIX, Leave, encode_events
from playback.outbox import EncodedFrame, StateChunk, ViewerOutbox
from playback.ports import StatePart
from playback.raw import EventChunk, RawEvents

Bounds = tuple[float, float, float, float]
"""``(west, south, east, north)`` of a geometry: the least and greatest longitude and latitude of its points."""
Key = tuple[str, str]

DEFAULT_GEOMETRY_PATH: Final = "geojson"
"""Where the demo data (and the seed's) keep an entity's location: a GeoJSON Feature, as a string."""


@dataclass(frozen=True, slots=True)
class Box:
    """A viewer's viewport, ``[west, south, east, north]`` in degrees; ``west > east`` crosses the antimeridian."""

    west: float
    south: float
    east: float
    north: float

    def intersects(self, bounds: Bounds) -> bool:
        """Whether a geometry's bounds meet the box (bounding-box intersection, edges included)."""
        west, south, east, north = bounds
        if north < self.south or south > self.north:
            return False
        if self.west <= self.east:
            return east >= self.west and west <= self.east
        # Across the antimeridian: the box is [west, 180] and [-180, east].
        return east >= self.west or west <= self.east


_ABSENT: Final = msgspec.Raw(b"null")
"""A member that is not there reads as JSON null (a ``Raw | None`` field would only accept null)."""


class _Geometry(msgspec.Struct):
    """A GeoJSON object as far as bounds need it: a Feature, a geometry, or a collection of geometries."""

    type: str = ""
    geometry: msgspec.Raw = msgspec.field(default_factory=lambda: _ABSENT)
    coordinates: Any = None
    geometries: list[msgspec.Raw] | None = None


_GEOMETRY: Final = msgspec.json.Decoder(_Geometry)
_STEP_FIELD: Final = "value"
_STRING: Final = msgspec.json.Decoder(str)


def _unquoted(text: bytes) -> bytes:
    """A JSON string's content as JSON text (the seed keeps its Feature as a string), other JSON as it is."""
    return _STRING.decode(text).encode() if text[:1] == b'"' else text


def _coordinate_bounds(coordinates: Any) -> Bounds | None:
    west = south = float("inf")
    east = north = float("-inf")
    stack = [coordinates]
    while stack:
        item = stack.pop()
        if not isinstance(item, list) or not item:
            continue
        first = item[0]
        if isinstance(first, list):
            stack.extend(item)
        elif len(item) >= 2 and isinstance(first, int | float) and isinstance(item[1], int | float):
            lon, lat = float(first), float(item[1])
            west, east = min(west, lon), max(east, lon)
            south, north = min(south, lat), max(north, lat)
    return None if west > east else (west, south, east, north)


def _union(one: Bounds | None, other: Bounds | None) -> Bounds | None:
    if one is None or other is None:
        return one or other
    return (min(one[0], other[0]), min(one[1], other[1]), max(one[2], other[2]), max(one[3], other[3]))


class GeometryReader:
    """Reads the bounds of an entity from its ``entity_state`` by a dotted path (``geojson``, ``location.geom``).

    Each step of the path names a member of an object; a member that is a JSON string is parsed (the seed keeps
    its Feature as a string). The value found may be a GeoJSON Feature, any geometry, or a collection. An entity
    whose state has nothing there has no bounds: it is outside every box.
    """

    def __init__(self, path: str) -> None:
        names = path.split(".")
        if not path or not all(names):
            raise ValueError(f"a geometry path is member names separated by dots, got {path!r}")
        self.path = path
        self._steps = [
            msgspec.json.Decoder(
                msgspec.defstruct(
                    "Step",
                    [(_STEP_FIELD, msgspec.Raw, msgspec.field(default_factory=lambda: _ABSENT))],
                    rename={_STEP_FIELD: name},
                )
            )
            for name in names
        ]

    def bounds(self, entity_state: bytes) -> Bounds | None:
        """The bounds of the geometry of an entity's state (its JSON text), or None when it has none."""
        try:
            text = entity_state
            for step in self._steps:
                text = bytes(getattr(step.decode(_unquoted(text)), _STEP_FIELD))
            return self._geometry_bounds(_unquoted(text), depth=0)
        except (msgspec.DecodeError, UnicodeEncodeError):
            return None

    def _geometry_bounds(self, text: bytes, depth: int) -> Bounds | None:
        if depth > 4:
            return None
        if text == b"null":
            return None
        found = _GEOMETRY.decode(text)
        if found.type == "Feature":
            return self._geometry_bounds(_unquoted(bytes(found.geometry)), depth + 1)
        if found.type == "GeometryCollection":
            bounds: Bounds | None = None
            for part in found.geometries or ():
                bounds = _union(bounds, self._geometry_bounds(bytes(part), depth + 1))
            return bounds
        return _coordinate_bounds(found.coordinates)


@lru_cache(maxsize=8)
def geometry_reader(path: str) -> GeometryReader:
    """The reader of a path (one per path per process)."""
    return GeometryReader(path)


class _IndexItem(msgspec.Struct, gc=False):
    entity_id: str
    table_name: str
    op: Op
    entity_state: msgspec.Raw
    event_timestamp: str


_ITEMS: Final = msgspec.json.Decoder(list[_IndexItem])
_RAW_ITEMS: Final = msgspec.json.Decoder(list[msgspec.Raw])
_NULL: Final = b"null"


@dataclass(frozen=True, slots=True)
class FrameIndex:
    """What a viewport needs of each item of a JSON array of wire items: its key, whether it exists, its bounds."""

    keys: list[Key]
    exists: list[bool]
    """False for a delete."""
    bounds: list[Bounds | None]
    items: list[bytes]
    """Each item's JSON text, as sent."""
    stamps: list[str]

    @classmethod
    def of(cls, array_text: bytes, geometry: GeometryReader) -> FrameIndex:
        """Decode the items of an array once."""
        decoded = _ITEMS.decode(array_text)
        raws = _RAW_ITEMS.decode(array_text)
        exists = [item.op != "d" for item in decoded]
        return cls(
            keys=[(item.table_name, item.entity_id) for item in decoded],
            exists=exists,
            bounds=[
                geometry.bounds(bytes(item.entity_state)) if alive else None
                for item, alive in zip(decoded, exists, strict=True)
            ],
            items=[bytes(raw) for raw in raws],
            stamps=[item.event_timestamp for item in decoded],
        )

    def __len__(self) -> int:
        return len(self.keys)


class FrameIndexCache:
    """The indexes of the latest frames handed out, shared by the boxed viewers of a replica's session.

    Keyed by the frame itself (frames are compared by identity), so that a frame fanned out to a hundred viewers
    is decoded once; a viewer more than ``size`` frames behind decodes its own.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._indexes: OrderedDict[EncodedFrame, FrameIndex] = OrderedDict()

    def index(self, frame: EncodedFrame, geometry: GeometryReader) -> FrameIndex:
        """The index of a shared frame."""
        found = self._indexes.get(frame)
        if found is None:
            found = self._indexes[frame] = FrameIndex.of(bytes(frame.body), geometry)
            if len(self._indexes) > self._size:
                self._indexes.popitem(last=False)
        return found


@dataclass(slots=True)
class _BoxDiff:
    """The state read by :meth:`Viewport.box_diff`, for the frame that answers it."""

    since: int
    to: int
    version: int
    keys: set[Key]
    """Every entity at ``to``."""
    gone: set[Key]
    """The entities deleted between ``since`` and ``to`` (a viewer holding everything at ``since`` has them)."""


def _array(parts: list[bytes]) -> bytes:
    return b"[" + b",".join(parts) + b"]"


def _entering(item: bytes) -> bytes:
    return ENTER_PREFIX + item[1:]


_encode_leave = msgspec.json.Encoder().encode


def _leave(key: Key, stamp: str) -> bytes:
    return _encode_leave(Leave(entity_id=key[1], table_name=key[0], event_timestamp=stamp))


@dataclass(eq=False)
class Viewport:
    """One viewer's viewport: its box, and what the viewer holds (see the module's docstring)."""

    geometry: GeometryReader
    cache: FrameIndexCache
    box: Box | None = None
    """None: every entity (a cleared box, until the frame that sends the rest has been handed out)."""
    in_view: dict[Key, Bounds | None] = field(default_factory=dict)
    existing: set[Key] = field(default_factory=set)
    holds_all: bool = True
    """The viewer holds every entity (no box yet, or a cleared one): payloads pass as they are, nothing is tracked.

    A new box takes effect with the frame that answers its diff, which takes away what is outside it."""
    _version: int = 0
    _clean: int = 0
    _state_version: int = 0
    _pending: _BoxDiff | None = None

    @property
    def dirty(self) -> bool:
        """Whether the box changed since what the viewer holds was last made to match it."""
        return self._version != self._clean

    @property
    def cleared(self) -> bool:
        """Whether the box is cleared and the viewer holds everything: the lens can go."""
        return self.box is None and not self.dirty

    def change(self, box: Box | None) -> None:
        """A new box (None: clear it); the caller queues the diff (:meth:`~playback.outbox.ViewerOutbox.review`)."""
        self.box = box
        self._version += 1

    def shows(self, exists: bool, bounds: Bounds | None) -> bool:
        """Whether an entity (existing or not, with its bounds) is in view."""
        box = self.box
        return exists and (box is None or (bounds is not None and box.intersects(bounds)))

    def __call__(self, payload: EncodedFrame | StateChunk) -> EncodedFrame | StateChunk:
        """The payload as this viewer gets it."""
        if isinstance(payload, StateChunk):
            if self.holds_all and payload.chunk > 1:
                return payload
            return self._chunk(payload)
        pending = self._pending
        if payload.seek and pending is not None and (pending.since, pending.to) == (payload.from_, payload.to):
            self._pending = None
            return self._box_frame(payload, pending)
        if self.holds_all:
            return payload
        shared = not (payload.seek or payload.conflated)
        index = (
            self.cache.index(payload, self.geometry) if shared else FrameIndex.of(bytes(payload.body), self.geometry)
        )
        return self._frame(payload, index)

    def _frame(self, frame: EncodedFrame, index: FrameIndex) -> EncodedFrame:
        in_view, existing = self.in_view, self.existing
        parts: list[bytes] = []
        picked = array("q")
        for position, (key, exists, bounds) in enumerate(zip(index.keys, index.exists, index.bounds, strict=True)):
            if exists:
                existing.add(key)
            else:
                existing.discard(key)
            if self.shows(exists, bounds):
                item = index.items[position]
                parts.append(item if key in in_view else _entering(item))
                in_view[key] = bounds
                picked.append(position)
            elif key in in_view:
                del in_view[key]
                parts.append(_leave(key, index.stamps[position]))
                picked.append(position)
        timestamps = array("q", (frame.events.timestamps[i] for i in picked))
        seqs = array("q", (frame.events.seqs[i] for i in picked))
        body = _array(parts)
        return EncodedFrame(
            frame.from_,
            frame.to,
            RawEvents(body, timestamps, seqs),
            msgspec.Raw(body),
            frame.conflated,
            frame.seek,
            total=len(existing),
            skipped=frame.skipped,
        )

    def _chunk(self, chunk: StateChunk) -> StateChunk:
        if chunk.chunk == 1:
            self.in_view.clear()
            self.existing.clear()
            self._state_version = self._version
            self.holds_all = self.box is None
            if self.holds_all:
                self._clean = self._state_version
                return chunk
        index = FrameIndex.of(bytes(chunk.entities), self.geometry)
        parts: list[bytes] = []
        for key, bounds, item in zip(index.keys, index.bounds, index.items, strict=True):
            self.existing.add(key)
            if self.shows(True, bounds):
                self.in_view[key] = bounds
                parts.append(item)
        entities = msgspec.Raw(_array(parts))
        if chunk.chunk < chunk.chunks:
            return StateChunk(chunk.position, chunk.chunk, chunk.chunks, entities)
        self._clean = self._state_version
        return StateChunk(chunk.position, chunk.chunk, chunk.chunks, entities, total=len(self.existing))

    def _box_frame(self, frame: EncodedFrame, diff: _BoxDiff) -> EncodedFrame:
        """The frame answering :meth:`box_diff`: the entities in view at ``to``, as enters, and the leaves."""
        index = FrameIndex.of(bytes(frame.body), self.geometry)
        moved = diff.since != diff.to
        before: dict[Key, Bounds | None] = dict.fromkeys(diff.keys) if self.holds_all else self.in_view
        now: dict[Key, Bounds | None] = {}
        parts: list[bytes] = []
        for key, bounds, item in zip(index.keys, index.bounds, index.items, strict=True):
            if not self.shows(True, bounds):
                continue
            now[key] = bounds
            if key not in before:
                parts.append(_entering(item))
            elif moved:
                parts.append(item)
        stamp = format_timestamp(diff.to)
        parts.extend(_leave(key, stamp) for key in before.keys() | diff.gone if key not in now)
        self._clean = diff.version
        self.holds_all = self.box is None and not self.dirty
        self.in_view, self.existing = ({}, set()) if self.holds_all else (now, diff.keys)
        body = _array(parts)
        count = len(parts)
        return EncodedFrame(
            frame.from_,
            frame.to,
            RawEvents(body, array("q", [diff.to] * count), array("q", [0] * count)),
            msgspec.Raw(body),
            seek=True,
            total=len(diff.keys),
        )

    async def box_diff(
        self,
        since: int,
        to: int,
        states: Callable[[int], AsyncGenerator[StatePart, None]],
        diffs: Callable[[int, int], Awaitable[EventChunk]],
    ) -> EventChunk:
        """Answer a diff asked for while the box is dirty: the entities at ``to`` in the box (read chunk by chunk).

        The frame made of it (:meth:`__call__`) sends those the viewer lacks as enters and takes away the others.
        """
        version = self._version
        gone: set[Key] = set()
        if since != to:
            changes = await diffs(since, to)
            gone = {event.key for event in changes if event.op == "d"}
        keys: set[Key] = set()
        items: list[bytes] = []
        async with contextlib.aclosing(states(to)) as parts:
            async for part in parts:
                text = part.entities if isinstance(part.entities, msgspec.Raw) else encode_events(part.entities)
                index = FrameIndex.of(bytes(text), self.geometry)
                keys.update(index.keys)
                items.extend(
                    item for item, bounds in zip(index.items, index.bounds, strict=True) if self.shows(True, bounds)
                )
        self._pending = _BoxDiff(since, to, version, keys, gone)
        return EventChunk(
            b",".join(items),
            array("q", [to] * len(items)),
            array("q", [0] * len(items)),
            array("q", accumulate(len(item) + 1 for item in items)),
        )


def viewed_diffs(
    outbox: ViewerOutbox,
    states: Callable[[int], AsyncGenerator[StatePart, None]],
    diffs: Callable[[int, int], Awaitable[EventChunk]],
) -> Callable[[int, int], Awaitable[EventChunk]]:
    """The diff reader of a viewer's pump: a viewport whose box changed answers it (:meth:`Viewport.box_diff`)."""

    async def read(since: int, to: int) -> EventChunk:
        lens = outbox.lens
        if isinstance(lens, Viewport) and lens.dirty:
            return await lens.box_diff(since, to, states, diffs)
        return await diffs(since, to)

    return read


def change_view(outbox: ViewerOutbox, box: Box | None, geometry: GeometryReader, cache: FrameIndexCache) -> Viewport:
    """Give a viewer a new box (None: clear it), with a viewport as its outbox's lens; the diff is queued."""
    lens = outbox.lens
    if not isinstance(lens, Viewport):
        lens = Viewport(geometry, cache)
        outbox.lens = lens
    lens.change(box)
    outbox.review()
    return lens
