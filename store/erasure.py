"""Erasure of a user's data: the steps of a ``user_erasure`` job, each one statement that also counts itself.

What is the user's: their sessions with each session's whole activity log, the activity-log entries they made in
other sessions (as a viewer), and their name where a row only records who changed it (replaced by a placeholder).
The tenant's recorded change events are the tenant's, not the user's: they stay (see docs/decisions.md).

Each step deletes a little and adds what it deleted to the job's result in the same statement, so a crash loses a
step's work and its count together or neither: a job resumed by another replica erases what is left and its
counts say exactly what was erased, once. The completed job keeps a digest of the user instead of their id.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from store import queries
from store.jobs import Job, job_of
from store.pool import Database

_Q = queries.load("erasure.sql")

ERASURE = "user_erasure"
"""The kind of user-erasure jobs."""
ERASED = "[erased]"
"""What replaces an erased user's name where a row records who changed it."""
_ENTRY_BATCH = 1000


def user_digest(tenant_id: uuid.UUID, user_id: str) -> str:
    """What a completed erasure keeps of whom it erased: a digest that confirms a known id, and reveals none."""
    return hashlib.sha256(f"{tenant_id}:{user_id}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Scheduled:
    """The erasure job of a request, and whether the request created it (else one was already unfinished)."""

    job: Job
    created: bool


class ErasureStore:
    """The rows of erasure jobs and the statements of their steps."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def schedule(self, tenant_id: uuid.UUID, user_id: str, created_by: str) -> Scheduled:
        """A scheduled erasure of the user, or the one already unfinished (one per user at a time)."""
        async with self._db.connection() as conn:
            for _ in range(3):
                row = await conn.fetchrow(_Q["schedule_erasure"], uuid.uuid4(), tenant_id, user_id, created_by)
                if row is not None:
                    return Scheduled(job_of(row), created=True)
                row = await conn.fetchrow(_Q["unfinished_erasure"], tenant_id, user_id)
                if row is not None:
                    return Scheduled(job_of(row), created=False)
        # The unfinished one ended between the two statements three times over: practically impossible.
        raise RuntimeError(f"could not schedule the erasure of {user_id!r}")

    async def unfinished(self) -> list[uuid.UUID]:
        """The ids of the erasure jobs not yet finished, oldest first."""
        async with self._db.connection() as conn:
            return [row["id"] for row in await conn.fetch(_Q["unfinished_erasures"])]

    async def claim(self, job_id: uuid.UUID) -> Job | None:
        """Mark the job running (it may be already: a replica that ran it died); None when it has finished."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_Q["claim_erasure"], job_id)
        return None if row is None else job_of(row)

    async def active_sessions(self, tenant_id: uuid.UUID, user_id: str) -> list[uuid.UUID]:
        """The user's ACTIVE sessions (terminated before anything is erased)."""
        async with self._db.connection() as conn:
            return [row["id"] for row in await conn.fetch(_Q["active_user_sessions"], tenant_id, user_id)]

    async def has_data(self, tenant_id: uuid.UUID, user_id: str) -> bool:
        """Whether the user still has a session or an activity-log entry."""
        async with self._db.connection() as conn:
            return bool(await conn.fetchval(_Q["user_has_data"], tenant_id, user_id))

    async def erase_one_session(self, job: Job, user_id: str) -> int | None:
        """Delete one of the user's sessions with its activity log; how many (0: none left), None: job not running."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_Q["erase_one_session"], job.id, job.tenant_id, user_id)
        return None if row is None else int(row["sessions"])

    async def erase_actor_entries(self, job: Job, user_id: str) -> int | None:
        """Delete a batch of the user's entries in other sessions' logs; how many, None: job not running."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_Q["erase_actor_entries"], job.id, job.tenant_id, user_id, _ENTRY_BATCH)
        return None if row is None else int(row["entries"])

    async def erase_attributions(self, job: Job, user_id: str) -> None:
        """Replace the user's name where rows record who changed them (once per job)."""
        async with self._db.connection() as conn:
            await conn.execute(_Q["erase_attributions"], job.id, job.tenant_id, user_id, ERASED)

    async def complete(self, job: Job, user_id: str) -> Job | None:
        """End the job, keeping only the user's digest; None when it was not running."""
        assert job.tenant_id is not None, "an erasure job belongs to a tenant"
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_Q["complete_erasure"], job.id, user_digest(job.tenant_id, user_id))
        return None if row is None else job_of(row)
