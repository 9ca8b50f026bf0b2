"""Events and states as the JSON text viewers receive, made by PostgreSQL: no Python object per event.

The queries of ``store.events`` (same arguments, same rows, same order) are wrapped so that PostgreSQL writes each
row as the wire item of the playback protocol (``playback.messages.WireEvent``, byte for byte as the engine would
encode it) and aggregates the items: a batch of events comes back as one row (the items joined by commas, and the
timestamps, seqs and item lengths packed beside them, which is all the engine needs to cut frames), a state as one
row per chunk. asyncpg then decodes a few ``bytea`` values per batch instead of a record per event.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime

from store import queries
from store.events import (
    NO_FILTERS,
    STATE_AT_SQL,
    EventFilters,
    base_snapshot,
    events_between_arguments,
    set_work_mem,
    state_arguments,
)
from store.pool import Database

_Q = queries.load("wire.sql")
_ITEM = _Q["wire_item"]
_EVENTS_BETWEEN = queries.load("events.sql")["events_between"]
_EVENTS = _Q["wire_events"].replace("{wire_item}", _ITEM).replace("{events_between}", _EVENTS_BETWEEN)
_STATE = _Q["wire_state"].replace("{wire_item}", _ITEM).replace("{state_at}", STATE_AT_SQL)
_SERIAL_PLAN = _Q["serial_plan"]
_SEEK = _Q["wire_events"].replace("{wire_item}", _ITEM).replace("{events_between}", _Q["seek_rows"])


@dataclass(frozen=True, slots=True)
class WireEvents:
    """Consecutive events as wire items: ``body`` joins them with commas; the rest are big-endian int64s per event."""

    count: int
    body: bytes
    timestamps: bytes
    """Microseconds since the epoch."""
    seqs: bytes
    lengths: bytes
    """Bytes of each item plus one (the comma after it)."""


class WireReader:
    """Reads of one database as wire text: batches of events, and states in chunks."""

    def __init__(self, db: Database, *, chunk_size: int = 2000) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be > 0")
        self._db = db
        self._chunk_size = chunk_size

    async def events(
        self,
        tenant_id: uuid.UUID,
        start: datetime,
        end: datetime,
        *,
        limit: int | None = None,
        work_mem_mb: int | None = None,
    ) -> WireEvents:
        """The events with ``start < event_timestamp <= end`` in order, the first ``limit`` of them (None: all)."""
        if limit is not None and limit <= 0:
            raise ValueError("limit must be > 0")
        arguments = events_between_arguments(tenant_id, start, end, NO_FILTERS, None, limit)
        async with self._db.read_connection() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            await set_work_mem(conn, work_mem_mb)
            row = await conn.fetchrow(_EVENTS, *arguments)
        assert row is not None  # an aggregate without GROUP BY answers one row
        return WireEvents(row["n"], row["body"], row["timestamps"], row["seqs"], row["lengths"])

    async def seek_diff(
        self, tenant_id: uuid.UUID, since: datetime, at: datetime, *, work_mem_mb: int | None = None
    ) -> WireEvents:
        """The net change from the state at ``since`` to the state at ``at`` (a diff-seek, either way), one row.

        For every entity with an event between the two instants: its item in the state at ``at``, or a delete item
        stamped ``at`` (seq 0) when it does not exist then; in ``(event_timestamp, seq)`` order.
        """
        low, high = min(since, at), max(since, at)
        async with self._db.read_connection() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            await set_work_mem(conn, work_mem_mb)
            await conn.execute(_SERIAL_PLAN)
            base = await base_snapshot(conn, tenant_id, at)
            row = await conn.fetchrow(_SEEK, *state_arguments(tenant_id, at, base, NO_FILTERS), low, high)
        assert row is not None  # an aggregate without GROUP BY answers one row
        return WireEvents(row["n"], row["body"], row["timestamps"], row["seqs"], row["lengths"])

    async def state_chunks(
        self,
        tenant_id: uuid.UUID,
        at: datetime,
        filters: EventFilters = NO_FILTERS,
        *,
        work_mem_mb: int | None = None,
    ) -> AsyncGenerator[tuple[int, bytes], None]:
        """The state at ``at`` (as ``EventStore.state_at``) in chunks of wire items joined by commas.

        Each chunk comes with the number of chunks; nothing is yielded for an empty state. Consume it with
        ``contextlib.aclosing`` when you may stop early.
        """
        async with self._db.read_connection() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            await set_work_mem(conn, work_mem_mb)
            base = await base_snapshot(conn, tenant_id, at)
            cursor = await conn.cursor(_STATE, *state_arguments(tenant_id, at, base, filters), self._chunk_size)
            while records := await cursor.fetch(1):
                yield int(records[0]["chunks"]), records[0]["body"]
