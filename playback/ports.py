"""What the async runner needs from the world outside the engine, as small Protocols and the values they carry.

The app adapts the store (:class:`EventSource`) and the viewers, on this replica and others (:class:`PlaybackSink`);
the engine never learns about PostgreSQL, Redis or WebSockets.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Protocol

import msgspec

from playback.frames import ChangeEvent
from playback.instants import MICROS_PER_SECOND, round_micros
from playback.messages import PlayState
from playback.outbox import EncodedFrame
from playback.raw import EventChunk


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Every event of ``(after, reached]`` for the ``after`` that was asked, in ``(timestamp, seq)`` order.

    The store's sources give an :class:`~playback.raw.EventChunk` (the events as viewers receive them, encoded);
    change events are accepted too, and encoded when fed.
    """

    events: EventChunk | Sequence[ChangeEvent]
    reached: int
    """How far the batch is complete: at most what was asked, more than ``after``."""


@dataclass(frozen=True, slots=True)
class StatePart:
    """One chunk of a state, and how many chunks the whole state has (at least 1: an empty state is one chunk)."""

    chunks: int
    entities: msgspec.Raw | Sequence[ChangeEvent]
    """The JSON array of the chunk's wire items as the store made it, or change events to encode."""


@dataclass(frozen=True, slots=True)
class ClockStatus:
    """The playback clock as viewers are told: what ``hello`` and ``status`` carry.

    ``wall_time`` is the Unix time at which ``position`` held, so that a replica that only hears about the clock
    can still say where it is now (see :meth:`position_at`).
    """

    state: PlayState
    position: int
    speed: float
    start: int
    end: int
    wall_time: float
    loop: tuple[int, int] | None = None
    """The loop ``(from, to)`` set, if any."""
    until: int | None = None
    """The instant at which playback will pause, if one is set."""
    skip_gaps: float | None = None
    """While skipping quiet time: the threshold in seconds of event time."""

    def position_at(self, wall_time: float) -> int:
        """Where the clock is at Unix time ``wall_time`` (later than this status), as the clock computes it."""
        if self.state != "playing" or wall_time <= self.wall_time:
            return self.position
        cap = self.end if self.until is None else min(self.end, self.until)
        if self.loop is not None and self.position <= self.loop[1]:
            cap = min(cap, self.loop[1])
        return min(cap, self.position + round_micros((wall_time - self.wall_time) * self.speed * MICROS_PER_SECOND))


class EventSource(Protocol):
    """The recorded history of one session's tenant, read in bounded pieces."""

    async def events(self, after: int, upto: int, limit: int) -> EventBatch:
        """The events of ``(after, reached]`` with ``after < reached <= upto``, complete up to ``reached``.

        About ``limit`` events at most: more only when a single timestamp holds more (a batch never splits the
        events of one timestamp, so that ``reached`` can be a whole instant).
        """
        ...

    async def quiet_stretches(self, after: int, upto: int, min_us: int) -> Sequence[tuple[int, int]]:
        """The stretches with no event, at least ``min_us`` long, that overlap ``(after, upto]``, oldest first.

        Each is ``(last event before, next event after)``, both event instants; a stretch with no event after it
        (the history so far ends) is not one. A source may miss stretches (it answers from an index), never invent one.
        """
        ...

    def state(self, position: int) -> AsyncGenerator[StatePart, None]:
        """The state at ``position`` in chunks; every part says the chunk count. Close it when stopping early."""
        ...

    async def seek_diff(self, since: int, position: int) -> EventChunk:
        """The net change from the state at ``since`` to the state at ``position`` (either may be the later).

        For every entity with an event between the two: its latest event at or before ``position``, or, when it
        does not exist at ``position``, a delete item stamped ``position`` (seq 0), in ``(timestamp, seq)`` order.
        """
        ...


class PlaybackSink(Protocol):
    """Where a runner sends what it produces: to the viewers of the session, wherever they are."""

    def frame(self, frame: EncodedFrame) -> None:
        """The next frame, encoded once for every viewer; it starts where the previous one (or a reset) ended."""

    def reset(self, position: int) -> None:
        """Playback jumped (a seek): every viewer needs the state at ``position``, and frames continue from it."""

    def status(self, status: ClockStatus) -> None:
        """The clock changed (a command), or about a second passed."""

    def ended(self, position: int) -> None:
        """Playback reached the end of its range (after the last frame)."""
