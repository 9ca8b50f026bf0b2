"""Reads of the sessions' activity log (``session_activity``): who did what to a session, and when."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from store import queries
from store.pool import Database

_Q = queries.load("activity.sql")

ACTIONS: tuple[str, ...] = (
    "created",
    "viewer_attached",
    "viewer_detached",
    "started",
    "stopped",
    "seeked",
    "speed_changed",
    "terminated",
    "expired",
    "reset",
    "deleted",
    "loop_changed",
    "until_changed",
)
"""The actions the server records (``terminated`` carries its reason: terminated, terminated_by_admin, ...)."""


@dataclass(frozen=True, slots=True)
class ActivityEntry:
    """One entry of a session's log."""

    id: int
    session_id: uuid.UUID
    tenant_id: uuid.UUID
    actor_id: str | None
    action: str
    details: dict[str, Any] | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ActivityQuery:
    """Which entries of a session's log: by tenant (None: any), actions, time window and page."""

    session_id: uuid.UUID
    tenant_id: uuid.UUID | None
    actions: tuple[str, ...] | None = None
    start: datetime | None = None
    end: datetime | None = None
    page: int = 1
    size: int = 50


@dataclass(frozen=True, slots=True)
class ActivityPage:
    """A page of entries, how many match in all, and whether the session is known at all."""

    items: list[ActivityEntry]
    total: int
    known: bool


class ActivityLog:
    """Pages of a session's activity log."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def page(self, query: ActivityQuery) -> ActivityPage:
        """The entries of the query's page, oldest first."""
        filters = (
            query.session_id,
            query.tenant_id,
            None if query.actions is None else list(query.actions),
            query.start,
            query.end,
        )
        async with self._db.connection() as conn:
            rows = await conn.fetch(_Q["activity_page"], *filters, query.size, (query.page - 1) * query.size)
            total = int(rows[0]["total"]) if rows else int(await conn.fetchval(_Q["activity_count"], *filters))
            known = True if rows else bool(await conn.fetchval(_Q["session_known"], query.session_id, query.tenant_id))
        items = [
            ActivityEntry(
                id=row["id"],
                session_id=row["session_id"],
                tenant_id=row["tenant_id"],
                actor_id=row["actor_id"],
                action=row["action"],
                details=None if row["details"] is None else msgspec.json.decode(row["details"]),
                at=row["at"],
            )
            for row in rows
        ]
        return ActivityPage(items, total, known)
