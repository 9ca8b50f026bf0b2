"""User erasure (``DELETE /admin/users/{user_id}``): a job that any replica may run and another may finish.

Scheduling stores the job (one unfinished per user: asking again answers the same job) and starts it on this
replica. Every replica also looks for unfinished erasure jobs every third of ``MSR_JOB_LEASE_S``; a job runs under
a Redis lease on ``lock:job:<id>``, renewed while it runs, so when its replica dies the lease runs out and another
replica takes the job over and resumes it where the database says it is (see :mod:`store.erasure`: every step
counts itself in the same statement, so nothing is done or counted twice).

The job first terminates the user's live sessions (their viewers are told and closed on every replica), then
erases their sessions one by one, their entries in other sessions' logs, and their name in "changed by" columns,
and ends keeping a digest of the user instead of their id. A cancel stops it between two steps, ``cancelled``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable

from redis.exceptions import RedisError

from app.auth import Principal
from app.coordination.redis import RedisConnection
from app.domain.jobs_runner import LockLostError, RedisLock
from app.domain.sessions import SessionService
from store.erasure import ErasureStore, Scheduled
from store.errors import StoreUnavailableError
from store.jobs import Job, JobCancelledError, JobRepository

_log = logging.getLogger("msr.erasure")
_ROUNDS = 3


class Erasures:
    """Schedules user erasures and runs them (see the module's docstring)."""

    def __init__(
        self,
        store: ErasureStore,
        jobs: JobRepository,
        sessions: SessionService,
        redis: RedisConnection,
        lease_s: float,
    ) -> None:
        self._store = store
        self._jobs = jobs
        self._sessions = sessions
        self._redis = redis
        self.lease_s = lease_s
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}

    async def schedule(self, admin: Principal, tenant_id: uuid.UUID, user_id: str) -> Scheduled:
        """The user's erasure job, started here at once when this request created it."""
        scheduled = await self._store.schedule(tenant_id, user_id, admin.user_id)
        self._start(scheduled.job.id)
        return scheduled

    async def step(self) -> None:
        """Periodic, on every replica: run the unfinished erasure jobs nobody runs (their replica died)."""
        for job_id in await self._store.unfinished():
            self._start(job_id)

    async def close(self) -> None:
        """Stop the jobs running here; each stays unfinished, and another replica resumes it."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, job_id: uuid.UUID) -> None:
        if job_id in self._running:
            return
        task = asyncio.create_task(self._run_leased(job_id), name=f"msr:erasure:{job_id}")
        self._running[job_id] = task
        task.add_done_callback(lambda _: self._running.pop(job_id, None))

    async def _run_leased(self, job_id: uuid.UUID) -> None:
        lock = RedisLock(self._redis, f"job:{job_id}", self.lease_s)
        try:
            if not await lock.acquire():
                return
        except RedisError:
            _log.warning("could not take the lease of erasure job %s; a later step retries", job_id)
            return
        try:
            async with lock.kept_alive() as held:
                await self._run(job_id, held)
        except (LockLostError, StoreUnavailableError, RedisError, OSError) as exc:
            # The job stays unfinished; whoever holds the lease next resumes it.
            _log.warning("erasure job %s paused: %s", job_id, exc)
        except Exception:
            _log.exception("erasure job %s failed", job_id)
            with contextlib.suppress(Exception):
                await self._jobs.fail(job_id, "erasure failed; see the server's logs and ask again")
        finally:
            with contextlib.suppress(RedisError, OSError):
                await lock.release()

    async def _run(self, job_id: uuid.UUID, held: Callable[[], bool]) -> None:
        job = await self._store.claim(job_id)
        if job is None:
            return
        assert job.tenant_id is not None, "an erasure job belongs to a tenant"
        user_id = str(job.params["user_id"])
        done = job.done or 0

        async def report() -> None:
            if not held():
                raise LockLostError(f"lost the lease of erasure job {job_id}")
            total = max(job.total or 0, done)
            await self._jobs.report_progress(job_id, done / total if total else 0.0)

        try:
            for _ in range(_ROUNDS):
                await self._terminate_live(job, user_id)
                await report()
                while erased := await self._store.erase_one_session(job, user_id):
                    done += erased
                    await report()
                while await self._store.erase_actor_entries(job, user_id):
                    await report()
                # A session created meanwhile, or a row skipped while another statement held it: go round again.
                if not await self._store.has_data(job.tenant_id, user_id):
                    break
            else:
                raise LockLostError("data still appears; a later step resumes the job")
            await self._store.erase_attributions(job, user_id)
            finished = await self._store.complete(job, user_id)
            if finished is not None:
                _log.info("erasure job %s completed: %s", job_id, finished.result)
        except JobCancelledError:
            _log.info("erasure job %s cancelled", job_id)
            await self._jobs.mark_cancelled(job_id)

    async def _terminate_live(self, job: Job, user_id: str) -> None:
        assert job.tenant_id is not None
        for session_id in await self._store.active_sessions(job.tenant_id, user_id):
            await self._sessions.terminate(session_id, actor=job.created_by or "system", reason="user_erased")
