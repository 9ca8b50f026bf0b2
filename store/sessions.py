"""Replay sessions and their activity log.

Every change of a session row bumps ``occ_lock``, except ``last_seen_at``, which is liveness bookkeeping: bumping
the lock on every API call would make every client's ``occ_lock`` stale at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Literal, NamedTuple

import asyncpg

from store import queries
from store.errors import ConflictError, NotFoundError
from store.pool import Database

_Q = queries.load("sessions.sql")

SessionStatus = Literal["ACTIVE", "INACTIVE"]
SessionKind = Literal["msr", "rnr"]

SORTABLE_COLUMNS: tuple[str, ...] = (
    "created_at",
    "updated_at",
    "last_seen_at",
    "status",
    "user_id",
    "tenant_id",
    "occ_lock",
)
"""Columns ``GET /admin/sessions`` may sort by."""


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session as stored."""

    id: uuid.UUID
    kind: SessionKind
    tenant_id: uuid.UUID
    user_id: str
    status: SessionStatus
    created_at: datetime
    updated_at: datetime
    created_by: str
    updated_by: str
    last_seen_at: datetime
    occ_lock: int
    ended_reason: str | None
    range_start: datetime | None
    range_end: datetime | None
    playback_state: str
    playback_speed: float
    playback_position: datetime | None
    rnr_status: str | None


_FIELDS = tuple(f.name for f in fields(SessionRow))


def _row(record: asyncpg.Record) -> SessionRow:
    return SessionRow(**{name: record[name] for name in _FIELDS})


def row_of(record: asyncpg.Record) -> SessionRow:
    """A :class:`SessionRow` from a record of ``sessions`` columns (for the store's other modules)."""
    return _row(record)


class NewSession(NamedTuple):
    """A session to create (see :meth:`SessionRepository.create_many`); the fields are the statement's columns."""

    id: uuid.UUID
    kind: SessionKind
    tenant_id: uuid.UUID
    user_id: str
    range_start: datetime | None = None
    range_end: datetime | None = None


@dataclass(frozen=True, slots=True)
class SessionQuery:
    """Filters, order and page of a session listing; sort columns must be in SORTABLE_COLUMNS."""

    tenant_id: uuid.UUID | None = None
    status: SessionStatus | None = None
    user_id: str | None = None
    created_from: datetime | None = None
    """Only sessions created at or after this instant."""
    created_until: datetime | None = None
    """Only sessions created before this instant."""
    sort: tuple[tuple[str, Literal["asc", "desc"]], ...] = (("created_at", "desc"),)
    page: int = 1
    size: int = 20


@dataclass(frozen=True, slots=True)
class SessionPage:
    """One page of sessions and the number of all that match."""

    rows: list[SessionRow]
    total: int


class SessionRepository:
    """Reads and writes sessions; every write also appends to the activity log in the same statement."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        session_id: uuid.UUID,
        *,
        kind: SessionKind,
        tenant_id: uuid.UUID,
        user_id: str,
        range_start: datetime | None = None,
        range_end: datetime | None = None,
    ) -> SessionRow:
        """Insert an ACTIVE session (the caller then admits it under the limit, or discards it).

        ConflictError when the tenant already has a live record-and-replay session (kind ``rnr``).
        """
        (row,) = await self.create_many([NewSession(session_id, kind, tenant_id, user_id, range_start, range_end)])
        return row

    async def create_many(self, sessions: Sequence[NewSession]) -> list[SessionRow]:
        """Insert ACTIVE sessions and their activity entries in one statement; the rows, in the order given.

        ConflictError (and nothing inserted) when one is a second live record-and-replay session of its tenant.
        """
        columns = zip(*sessions, strict=True)
        async with self._db.connection() as conn:
            try:
                records = await conn.fetch(_Q["insert_sessions"], *(list(column) for column in columns))
            except asyncpg.UniqueViolationError:
                raise ConflictError("the tenant already has a live replay") from None
        rows = {record["id"]: _row(record) for record in records}
        return [rows[session.id] for session in sessions]

    async def discard(self, session_ids: Sequence[uuid.UUID]) -> None:
        """Remove sessions that were not admitted, leaving no trace."""
        async with self._db.connection() as conn:
            await conn.execute(_Q["discard_sessions"], list(session_ids))

    async def get(self, session_id: uuid.UUID) -> SessionRow:
        """One session, or NotFoundError."""
        async with self._db.connection() as conn:
            record = await conn.fetchrow(_Q["get_session"], session_id)
        if record is None:
            raise NotFoundError(f"session {session_id} not found")
        return _row(record)

    async def terminate(
        self,
        session_id: uuid.UUID,
        *,
        actor: str,
        reason: str,
        expected_occ_lock: int | None = None,
        owner: tuple[uuid.UUID, str] | None = None,
    ) -> SessionRow | None:
        """Make the session INACTIVE if it is ACTIVE and the conditions hold; the changed row, or None.

        ``expected_occ_lock`` (when given) must be current, and ``owner`` (tenant, user; when given) must own it.
        When nothing changed the caller reads the row to say why.
        """
        tenant_id, user_id = owner if owner is not None else (None, None)
        async with self._db.connection() as conn:
            record = await conn.fetchrow(
                _Q["terminate_session"], session_id, actor, reason, expected_occ_lock, tenant_id, user_id
            )
        return _row(record) if record is not None else None

    async def delete(self, session_id: uuid.UUID, *, actor: str, expected_occ_lock: int | None = None) -> bool:
        """Delete the session; returns whether it was ACTIVE. Stale ``expected_occ_lock``: ConflictError."""
        async with self._db.connection() as conn, conn.transaction():
            record = await conn.fetchrow(_Q["delete_session"], session_id, actor, expected_occ_lock)
            if record is not None:
                return bool(record["status"] == "ACTIVE")
            exists = await conn.fetchrow(_Q["get_session"], session_id)
        if exists is None:
            raise NotFoundError(f"session {session_id} not found")
        raise ConflictError(f"session {session_id} changed (occ_lock is {exists['occ_lock']})")

    async def expire_idle(self, last_seen_before: datetime) -> list[uuid.UUID]:
        """Make sessions idle since before the instant INACTIVE; their ids."""
        async with self._db.connection() as conn:
            records = await conn.fetch(_Q["expire_idle_sessions"], last_seen_before)
        return [record["id"] for record in records]

    async def touch(self, seen: dict[uuid.UUID, datetime]) -> None:
        """Record the last API use of many sessions in one statement."""
        if not seen:
            return
        ids = list(seen)
        async with self._db.connection() as conn:
            await conn.execute(_Q["touch_sessions"], ids, [seen[i] for i in ids])

    async def active_ids(self) -> list[uuid.UUID]:
        """Ids of every ACTIVE session (bounded by the session limit, give or take the ones being created)."""
        async with self._db.connection() as conn:
            return [record["id"] for record in await conn.fetch(_Q["active_session_ids"])]

    async def active_among(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of the ids are ACTIVE sessions."""
        async with self._db.connection() as conn:
            return {record["id"] for record in await conn.fetch(_Q["active_among"], list(ids))}

    async def count_active(self) -> int:
        """The number of ACTIVE sessions."""
        async with self._db.connection() as conn:
            count: int = await conn.fetchval(_Q["count_active_sessions"])
        return count

    async def count_by_status(self) -> dict[tuple[str, str], int]:
        """The number of sessions of each ``(kind, status)``."""
        async with self._db.connection() as conn:
            return {(r["kind"], r["status"]): r["sessions"] for r in await conn.fetch(_Q["count_sessions_by_status"])}

    async def list(self, query: SessionQuery) -> SessionPage:
        """A page of sessions matching the filters, in the requested order (ties by id for a stable order)."""
        conditions: list[str] = []
        args: list[object] = []
        for condition, value in (
            ("tenant_id =", query.tenant_id),
            ("status =", query.status),
            ("user_id =", query.user_id),
            ("created_at >=", query.created_from),
            ("created_at <", query.created_until),
        ):
            if value is not None:
                args.append(value)
                conditions.append(f"{condition} ${len(args)}")
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        for column, _direction in query.sort:
            if column not in SORTABLE_COLUMNS:
                raise ValueError(f"cannot sort by {column!r}")
        order = ", ".join(f"{column} {direction.upper()}" for column, direction in query.sort)
        args += [query.size, (query.page - 1) * query.size]
        # Identifiers above come from SORTABLE_COLUMNS and fixed words only; values are bound parameters.
        sql = (
            f"SELECT *, count(*) OVER () AS total_records FROM sessions {where} "  # noqa: S608
            f"ORDER BY {order}, id LIMIT ${len(args) - 1} OFFSET ${len(args)}"
        )
        async with self._db.connection() as conn:
            records = await conn.fetch(sql, *args)
            if records:
                total = int(records[0]["total_records"])
            else:
                total = int(await conn.fetchval(f"SELECT count(*) FROM sessions {where}", *args[:-2]))  # noqa: S608
        return SessionPage([_row(record) for record in records], total)
