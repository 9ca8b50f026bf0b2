"""The store as the playback engine's :class:`~playback.ports.EventSource`.

Keyset reads of one tenant's history, converted to the engine's integer-microsecond
:class:`~playback.frames.ChangeEvent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, Callable

import msgspec

from playback.frames import ChangeEvent, Op
from playback.instants import ONE_MICROSECOND, from_micros, to_micros
from playback.ports import EventBatch, StatePart
from store.events import EventStore, StoredEvent
from store.playback import PlaybackStore

_NULL = b"null"


def change_event(item: StoredEvent) -> ChangeEvent:
    """A stored event as the engine sees it (a delete's ``null`` state becomes None)."""
    state = item.entity_state
    return ChangeEvent(
        seq=item.seq,
        timestamp=to_micros(item.event_timestamp),
        table_name=item.table_name,
        entity_id=item.entity_id,
        op=_op(item.op),
        entity_state=None if bytes(state) == _NULL else msgspec.Raw(state),
    )


def _op(value: str) -> Op:
    if value == "c":
        return "c"
    if value == "r":
        return "r"
    if value == "u":
        return "u"
    if value == "d":
        return "d"
    raise ValueError(f"unknown op {value!r}")


class StoreEventSource:
    """One tenant's history, read from PostgreSQL in bounded batches (events) and chunks (states)."""

    def __init__(
        self,
        events: EventStore,
        states: PlaybackStore,
        tenant_id: uuid.UUID,
        *,
        work_mem_mb: Callable[[], int | None],
        state_slots: asyncio.Semaphore,
    ) -> None:
        """A source of one tenant's history.

        ``state_slots`` bounds how many states this replica streams at once: each holds a pooled connection for as
        long as its viewer takes to receive it.
        """
        self._events = events
        self._states = states
        self._tenant_id = tenant_id
        self._work_mem_mb = work_mem_mb
        self._state_slots = state_slots

    async def events(self, after: int, upto: int, limit: int) -> EventBatch:
        """Up to ``limit`` events of ``(after, upto]`` (more only to finish one timestamp), and how far they reach."""
        batch: list[StoredEvent] = []
        # One more than asked tells whether the range holds more, and where the next timestamp starts.
        async with contextlib.aclosing(
            self._events.events_between(
                self._tenant_id,
                from_micros(after),
                from_micros(upto),
                limit=limit + 1,
                work_mem_mb=self._work_mem_mb(),
            )
        ) as chunks:
            async for chunk in chunks:
                batch.extend(chunk)
        if len(batch) <= limit:
            return EventBatch([change_event(item) for item in batch], upto)
        first_left_out = batch[limit].event_timestamp
        kept = [item for item in batch[:limit] if item.event_timestamp < first_left_out]
        if kept:
            return EventBatch([change_event(item) for item in kept], to_micros(first_left_out) - 1)
        # Every event read shares one timestamp: read all of that instant, however many.
        instant: list[ChangeEvent] = []
        async with contextlib.aclosing(
            self._events.events_between(
                self._tenant_id,
                first_left_out - ONE_MICROSECOND,
                first_left_out,
                work_mem_mb=self._work_mem_mb(),
            )
        ) as chunks:
            async for chunk in chunks:
                instant.extend(change_event(item) for item in chunk)
        return EventBatch(instant, to_micros(first_left_out))

    async def state(self, position: int) -> AsyncGenerator[StatePart, None]:
        """The state at ``position`` in chunks, each saying how many there are; an empty state is one empty chunk."""
        chunk_size = self._states.chunk_size
        async with self._state_slots:
            sent = False
            async with contextlib.aclosing(
                self._states.state_chunks(self._tenant_id, from_micros(position), work_mem_mb=self._work_mem_mb())
            ) as chunks:
                async for total, items in chunks:
                    sent = True
                    yield StatePart(max(1, -(-total // chunk_size)), [change_event(item) for item in items])
            if not sent:
                yield StatePart(1, [])
