"""Admission: whether a new session fits under ``max_active_sessions``, decided atomically across replicas.

PostgreSQL holds the truth (the session rows); Redis decides, in one atomic Lua step, over a sorted set of the ACTIVE
session ids (see :mod:`app.domain.sessions` for why the row is committed first).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence

from redis.exceptions import RedisError

from app.coordination.redis import RedisConnection
from app.coordination.scripts import AnyPipeline, load_script
from store.sessions import SessionRepository

_log = logging.getLogger("msr.sessions")
_RECONCILE_GRACE_MS = 30_000


class AdmissionControl:
    """The global session limit, enforced atomically across replicas through Redis."""

    def __init__(self, redis: RedisConnection, repository: SessionRepository) -> None:
        self._redis = redis
        self._repository = repository
        # Hash tags keep both keys in one slot on Redis Cluster.
        self._active_key = redis.key("{sessions}", "active")
        self._marker_key = redis.key("{sessions}", "synced")
        self._admit = load_script(redis, "admit")
        self._rebuild = load_script(redis, "rebuild")

    async def admit(self, session_id: uuid.UUID, limit: int) -> bool:
        """Whether the (already stored) session fits under the limit; it then counts against it."""
        return (await self.admit_many([(session_id, limit)]))[0]

    async def admit_many(self, candidates: Sequence[tuple[uuid.UUID, int]]) -> list[bool]:
        """For each (already stored) session and its limit, in order, whether it fits; one script call in all."""
        args: list[str | int] = [_now_ms()]
        for session_id, limit in candidates:
            args += [str(session_id), limit]
        for _ in range(3):
            verdicts = await self._admit(keys=[self._active_key, self._marker_key], args=args)
            if verdicts != -1:
                return [verdict == 1 for verdict in verdicts]
            await self.rebuild()
        raise RedisError("admission set could not be rebuilt")

    async def rebuild(self) -> None:
        """Load the ACTIVE session ids from PostgreSQL into Redis, unless a replica already did."""
        ids = await self._repository.active_ids()
        rebuilt = await self._rebuild(keys=[self._active_key, self._marker_key], args=[str(i) for i in ids])
        if rebuilt:
            _log.warning("rebuilt the admission set from PostgreSQL (%d active sessions)", len(ids))

    async def release(self, *session_ids: uuid.UUID) -> None:
        """Free the slots of sessions that stopped being ACTIVE."""
        if session_ids:
            await self._redis.client.zrem(self._active_key, *(str(i) for i in session_ids))

    def pipeline(self) -> AnyPipeline:
        """A pipeline (no transaction) on which callers queue Redis steps sent in one round trip."""
        return self._redis.client.pipeline(transaction=False)

    def queue_release(self, pipe: AnyPipeline, session_ids: list[uuid.UUID]) -> None:
        """Queue on ``pipe`` the release of these sessions' slots."""
        if session_ids:
            pipe.zrem(self._active_key, *(str(i) for i in session_ids))

    async def reconcile(self) -> None:
        """Free slots whose sessions PostgreSQL no longer has ACTIVE (a release lost to a Redis outage).

        Members admitted in the last seconds are left alone: their rows may still be committing elsewhere.
        Also rebuilds the set if Redis lost it, so that a rebuild rarely has to happen inside a burst of creates.
        """
        await self.rebuild()
        cutoff = _now_ms() - _RECONCILE_GRACE_MS
        members = await self._redis.client.zrangebyscore(self._active_key, "-inf", cutoff)
        if not members:
            return
        ids = [uuid.UUID(m.decode() if isinstance(m, bytes) else str(m)) for m in members]
        active = await self._repository.active_among(ids)
        stale = [i for i in ids if i not in active]
        if stale:
            await self.release(*stale)
            _log.info("freed %d stale admission slots", len(stale))


def _now_ms() -> int:
    return int(time.time() * 1000)
