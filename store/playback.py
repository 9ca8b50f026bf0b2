"""What live playback needs from PostgreSQL beyond ``store.events``.

Events and states as wire text (``wire``, a :class:`store.wire.WireReader`), the persisted playback clock of a
session, its range, record-and-replay rows, and the activity log.

The playback columns (``playback_state``, ``playback_speed``, ``playback_position``, ``rnr_status``) are bookkeeping
written by the replica that plays the session, like ``last_seen_at``: they do not bump ``occ_lock``, or every
client's ``occ_lock`` would go stale once a second while a session plays.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from store import queries
from store.errors import NotFoundError
from store.pool import Database
from store.rollup import QuietStretch, quiet_stretches
from store.sessions import SessionRow, row_of
from store.wire import WireReader

_Q = queries.load("playback.sql")


@dataclass(frozen=True, slots=True)
class ActivityEntry:
    """One entry of a session's activity log, with the instant it happened."""

    session_id: uuid.UUID
    tenant_id: uuid.UUID
    actor: str
    action: str
    details: dict[str, Any] | None
    at: datetime


class PlaybackStore:
    """Reads and writes of live playback over a :class:`store.pool.Database`."""

    def __init__(self, db: Database, *, chunk_size: int = 2000) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be > 0")
        self._db = db
        self._chunk_size = chunk_size
        self.wire = WireReader(db, chunk_size=chunk_size)
        """Events and states as viewers receive them, for playback."""

    @property
    def chunk_size(self) -> int:
        """Entities per chunk of a state."""
        return self._chunk_size

    async def save_clock(
        self,
        session_id: uuid.UUID,
        epoch: int,
        state: str,
        speed: float,
        position: datetime,
        rnr_status: str | None = None,
    ) -> bool:
        """Persist the playback clock of an ACTIVE session (and its RnR status when given); whether it was saved.

        ``epoch`` is the saving owner's lease epoch: nothing is saved when an owner of a newer epoch saved the clock
        (this one's lease was taken), or when the session is no longer active.
        """
        async with self._db.connection() as conn:
            saved = await conn.fetchval(_Q["save_clock"], session_id, state, speed, position, rnr_status, epoch)
        return saved is not None

    async def quiet_stretches(
        self, tenant_id: uuid.UUID, start: datetime, end: datetime, min_quiet: timedelta
    ) -> list[QuietStretch]:
        """The tenant's stretches with no event, at least ``min_quiet`` long, overlapping ``[start, end)``."""
        return await quiet_stretches(self._db, tenant_id, start, end, min_quiet)

    async def previous_event(self, tenant_id: uuid.UUID, after: datetime, before: datetime) -> datetime | None:
        """The instant of the tenant's latest event in ``(after, before)`` (a step back by event), or None."""
        async with self._db.read_connection() as conn:
            instant: datetime | None = await conn.fetchval(_Q["previous_event"], tenant_id, after, before)
        return instant

    async def set_range(self, session_id: uuid.UUID, start: datetime, end: datetime) -> SessionRow:
        """Give the session its range unless it has one; the row as it is afterwards."""
        async with self._db.connection() as conn:
            record = await conn.fetchrow(_Q["set_range"], session_id, start, end)
            if record is not None and record["range_start"] is None:
                # Another replica gave the range while this UPDATE waited for the row: the UPDATE then changes
                # nothing, and the statement's snapshot, taken before that commit, still reads no range. A new
                # statement sees the committed one.
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

    async def log_activities(self, entries: Sequence[ActivityEntry]) -> None:
        """Append many entries in one statement (viewers coming and going, written in batches)."""
        if not entries:
            return
        async with self._db.connection() as conn:
            await conn.execute(
                _Q["log_activities"],
                [e.session_id for e in entries],
                [e.tenant_id for e in entries],
                [e.actor for e in entries],
                [e.action for e in entries],
                [json.dumps(e.details) if e.details is not None else None for e in entries],
                [e.at for e in entries],
            )
