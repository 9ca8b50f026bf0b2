"""The store as the playback engine's :class:`~playback.ports.EventSource`.

Reads of one tenant's history as the wire text viewers receive, made by PostgreSQL (``store.wire``), handed to
the engine as :class:`~playback.raw.EventChunk` with integer-microsecond timestamps.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, Callable
from datetime import timedelta

import msgspec

from playback.instants import from_micros, to_micros
from playback.ports import EventBatch, StatePart
from playback.raw import EventChunk, complete_part
from store.playback import PlaybackStore


class StoreEventSource:
    """One tenant's history, read from PostgreSQL in bounded batches (events) and chunks (states)."""

    def __init__(
        self,
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
        self._states = states
        self._tenant_id = tenant_id
        self._work_mem_mb = work_mem_mb
        self._state_slots = state_slots

    async def events(self, after: int, upto: int, limit: int) -> EventBatch:
        """Up to ``limit`` events of ``(after, upto]`` (more only to finish one timestamp), and how far they reach."""
        # One more than asked tells whether the range holds more, and where the next timestamp starts.
        part = complete_part(await self._read(after, upto, limit + 1), limit, upto)
        if isinstance(part, tuple):
            return EventBatch(*part)
        # Every event read shares one timestamp: read all of that instant, however many.
        return EventBatch(await self._read(part - 1, part, None), part)

    async def _read(self, after: int, upto: int, limit: int | None) -> EventChunk:
        wire = await self._states.wire.events(
            self._tenant_id, from_micros(after), from_micros(upto), limit=limit, work_mem_mb=self._work_mem_mb()
        )
        return EventChunk.packed(wire.body, wire.timestamps, wire.seqs, wire.lengths)

    async def quiet_stretches(self, after: int, upto: int, min_us: int) -> list[tuple[int, int]]:
        """The stretches with no event, at least ``min_us`` long, overlapping ``(after, upto]``: from the rollup."""
        found = await self._states.quiet_stretches(
            self._tenant_id, from_micros(after), from_micros(upto), timedelta(microseconds=min_us)
        )
        return [(to_micros(stretch.after), to_micros(stretch.before)) for stretch in found]

    async def seek_diff(self, since: int, position: int) -> EventChunk:
        """The net change from the state at ``since`` to the state at ``position`` (a diff-seek)."""
        wire = await self._states.wire.seek_diff(
            self._tenant_id, from_micros(since), from_micros(position), work_mem_mb=self._work_mem_mb()
        )
        return EventChunk.packed(wire.body, wire.timestamps, wire.seqs, wire.lengths)

    async def state(self, position: int) -> AsyncGenerator[StatePart, None]:
        """The state at ``position`` in chunks, each saying how many there are; an empty state is one empty chunk."""
        async with self._state_slots:
            sent = False
            async with contextlib.aclosing(
                self._states.wire.state_chunks(self._tenant_id, from_micros(position), work_mem_mb=self._work_mem_mb())
            ) as chunks:
                async for count, body in chunks:
                    sent = True
                    yield StatePart(count, msgspec.Raw(b"[" + body + b"]"))
            if not sent:
                yield StatePart(1, [])
