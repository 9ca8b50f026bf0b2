"""What live playback needs from PostgreSQL beyond ``store.events``.

The state with its size known up front, the persisted playback clock of a session, its range, record-and-replay
rows, and the activity log.

The playback columns (``playback_state``, ``playback_speed``, ``playback_position``, ``rnr_status``) are bookkeeping
written by the replica that plays the session, like ``last_seen_at``: they do not bump ``occ_lock``, or every
client's ``occ_lock`` would go stale once a second while a session plays.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

from store import queries
from store.errors import NotFoundError
from store.events import (
    NO_FILTERS,
    STATE_AT_SQL,
    StoredEvent,
    base_snapshot,
    set_work_mem,
    state_arguments,
    stored_event,
)
from store.pool import Database
from store.sessions import SessionRow, row_of

_Q = queries.load("playback.sql")
_COUNTED_STATE = _Q["counted_state"].replace("{state_at}", STATE_AT_SQL)


class PlaybackStore:
    """Reads and writes of live playback over a :class:`store.pool.Database`."""

    def __init__(self, db: Database, *, chunk_size: int = 2000) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be > 0")
        self._db = db
        self._chunk_size = chunk_size

    @property
    def chunk_size(self) -> int:
        """Entities per chunk of a state."""
        return self._chunk_size

    async def state_chunks(
        self, tenant_id: uuid.UUID, at: datetime, *, work_mem_mb: int | None = None
    ) -> AsyncGenerator[tuple[int, list[StoredEvent]], None]:
        """The tenant's state at ``at`` (as ``EventStore.state_at``) in chunks, each with the state's row count.

        Nothing is yielded for an empty state. Consume it with ``contextlib.aclosing`` when you may stop early.
        """
        async with self._db.read_connection() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            await set_work_mem(conn, work_mem_mb)
            base = await base_snapshot(conn, tenant_id, at)
            cursor = await conn.cursor(_COUNTED_STATE, *state_arguments(tenant_id, at, base, NO_FILTERS))
            while records := await cursor.fetch(self._chunk_size):
                yield int(records[0]["total"]), [stored_event(r) for r in records]

    async def save_clock(
        self, session_id: uuid.UUID, state: str, speed: float, position: datetime, rnr_status: str | None = None
    ) -> None:
        """Persist the playback clock of an ACTIVE session (and its RnR status when given)."""
        async with self._db.connection() as conn:
            await conn.execute(_Q["save_clock"], session_id, state, speed, position, rnr_status)

    async def set_range(self, session_id: uuid.UUID, start: datetime, end: datetime) -> SessionRow:
        """Give the session its range unless it has one; the row as it is afterwards."""
        async with self._db.connection() as conn:
            record = await conn.fetchrow(_Q["set_range"], session_id, start, end)
        if record is None:
            raise NotFoundError(f"session {session_id} not found")
        return row_of(record)

    async def set_rnr_status(self, session_id: uuid.UUID, status: str) -> None:
        """Set the record-and-replay status words of a session."""
        async with self._db.connection() as conn:
            await conn.execute(_Q["set_rnr_status"], session_id, status)

    async def current_rnr(self, tenant_id: uuid.UUID) -> SessionRow | None:
        """The tenant's live record-and-replay session, if any."""
        async with self._db.connection() as conn:
            record = await conn.fetchrow(_Q["current_rnr"], tenant_id)
        return row_of(record) if record is not None else None

    async def log_activity(
        self,
        session_id: uuid.UUID,
        tenant_id: uuid.UUID,
        actor: str,
        action: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append one entry to the session's activity log."""
        encoded = json.dumps(details) if details is not None else None
        async with self._db.connection() as conn:
            await conn.execute(_Q["log_activity"], session_id, tenant_id, actor, action, encoded)
