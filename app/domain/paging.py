"""Pages of ``GET /replay/events`` that never end inside an instant, so never inside a source transaction.

The events of one source transaction share one instant (``store.recording``), so a page that ends only between
two instants never shows half of one. A page holds ``limit`` events, more only to finish the instant its
``limit``-th event is at (as playback's read-ahead does).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime

from playback.instants import ONE_MICROSECOND
from store.events import EventFilters, EventStore, Position, StoredEvent


class EventPage:
    """One page of the events of ``(start, end]`` after ``after`` (every event when ``size`` is None).

    Iterate :meth:`chunks` once; afterwards ``next_position`` is where the next page starts (None: no more).
    """

    def __init__(
        self,
        events: EventStore,
        tenant_id: uuid.UUID,
        start: datetime,
        end: datetime,
        filters: EventFilters,
        *,
        after: Position | None,
        size: int | None,
        work_mem_mb: int | None,
    ) -> None:
        self._events = events
        self._tenant_id = tenant_id
        self._start = start
        self._end = end
        self._filters = filters
        self._after = after
        self.size = size
        self._work_mem_mb = work_mem_mb
        self.count = 0
        self.next_position: Position | None = None

    def _read(
        self, start: datetime, end: datetime, after: Position | None, limit: int | None
    ) -> AsyncGenerator[list[StoredEvent], None]:
        return self._events.events_between(
            self._tenant_id, start, end, self._filters, after=after, limit=limit, work_mem_mb=self._work_mem_mb
        )

    async def chunks(self) -> AsyncGenerator[list[StoredEvent], None]:
        """The page's events in ``(event_timestamp, seq)`` order, in chunks."""
        # One more than the page tells whether another page follows, and whether the page ends inside an instant.
        limit = None if self.size is None else self.size + 1
        last: StoredEvent | None = None
        left_out: StoredEvent | None = None
        async with contextlib.aclosing(self._read(self._start, self._end, self._after, limit)) as chunks:
            async for chunk in chunks:
                if self.size is not None and self.count + len(chunk) > self.size:
                    left_out = chunk[self.size - self.count]
                    chunk = chunk[: self.size - self.count]  # noqa: PLW2901 - the part that fits the page
                if chunk:
                    last = chunk[-1]
                    self.count += len(chunk)
                    yield chunk
        if left_out is None or last is None:
            return
        if left_out.event_timestamp != last.event_timestamp:
            self.next_position = last.position
            return
        # The page would end inside an instant: finish it, then look whether anything follows.
        instant = last.event_timestamp
        async with contextlib.aclosing(self._read(instant - ONE_MICROSECOND, instant, last.position, None)) as rest:
            async for chunk in rest:
                if chunk:
                    last = chunk[-1]
                    self.count += len(chunk)
                    yield chunk
        async with contextlib.aclosing(self._read(self._start, self._end, last.position, 1)) as probe:
            if [item async for chunk in probe for item in chunk]:
                self.next_position = last.position
