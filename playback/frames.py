"""What the engine moves around: change events with integer timestamps, and the frames that carry them.

Positions and timestamps are integers in microseconds since the Unix epoch (event timestamps have
microsecond precision, so integer arithmetic is exact). Wall times are floats in seconds of a monotonic clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import msgspec

if TYPE_CHECKING:
    from playback.raw import RawEvents

Op = Literal["c", "r", "u", "d"]
"""Debezium's letters: create, read in a snapshot, update, delete."""


class ChangeEvent(msgspec.Struct, frozen=True, gc=False):
    """One recorded change as the engine sees it; events are ordered by ``(timestamp, seq)``."""

    seq: int
    """The store's ingest order, which breaks ties between equal timestamps."""
    timestamp: int
    """``event_timestamp`` in microseconds since the epoch."""
    table_name: str
    entity_id: str
    op: Op
    entity_state: msgspec.Raw | None = None
    """The entity's JSON object, kept encoded: the engine never looks inside it. None for a delete."""

    @property
    def key(self) -> tuple[str, str]:
        """The entity this event is about."""
        return (self.table_name, self.entity_id)


@dataclass(frozen=True, slots=True)
class Frame:
    """The events of ``(from_, to]`` of a session's history, due at wall time ``deadline``."""

    from_: int
    to: int
    events: RawEvents | tuple[ChangeEvent, ...]
    """The session makes :class:`~playback.raw.RawEvents` (encoded once); both iterate as change events."""
    deadline: float
    """The monotonic wall time at which the frame was due, so the caller can measure its lateness."""
    skipped: bool = False
    """A jump over a quiet stretch (skip gaps): no events, and the clock went from ``from_`` to ``to`` at once."""
