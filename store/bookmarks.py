"""Bookmarks: instants of a tenant's history that a user marked, with a note; each user sees only their own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from store import queries
from store.pool import Database

_Q = queries.load("bookmarks.sql")


@dataclass(frozen=True, slots=True)
class Bookmark:
    """One bookmark."""

    id: uuid.UUID
    at: datetime
    note: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BookmarkOwner:
    """Whose bookmarks: a user of a tenant."""

    tenant_id: uuid.UUID
    user_id: str


def _bookmark(row: asyncpg.Record) -> Bookmark:
    return Bookmark(row["id"], row["at"], row["note"], row["created_at"])


class BookmarkRepository:
    """Reads and writes ``bookmarks`` rows, always of one owner."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, owner: BookmarkOwner, at: datetime, note: str) -> Bookmark:
        """A new bookmark of ``owner`` at ``at``."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_Q["create_bookmark"], uuid.uuid4(), owner.tenant_id, owner.user_id, at, note)
        assert row is not None, "an INSERT ... RETURNING returns its row"
        return _bookmark(row)

    async def list(
        self,
        owner: BookmarkOwner,
        *,
        start: datetime | None,
        end: datetime | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Bookmark]:
        """The owner's bookmarks in ``start <= at <= end``, in ``(at, id)`` order after ``after``; at most ``limit``."""
        if limit <= 0:
            raise ValueError("limit must be > 0")
        after_at, after_id = after if after is not None else (None, None)
        # The primary, not a read replica: a user expects the bookmark just made to be listed.
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                _Q["list_bookmarks"], owner.tenant_id, owner.user_id, start, end, after_at, after_id, limit
            )
        return [_bookmark(row) for row in rows]

    async def delete(self, owner: BookmarkOwner, bookmark_id: uuid.UUID) -> bool:
        """Remove one of the owner's bookmarks; False when the owner has no such bookmark."""
        async with self._db.connection() as conn:
            deleted = await conn.fetchval(_Q["delete_bookmark"], bookmark_id, owner.tenant_id, owner.user_id)
        return deleted is not None
