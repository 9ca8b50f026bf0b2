"""Scheduled maintenance jobs, run on one replica at a time: retention and the histogram rollup refresh.

Every replica calls :meth:`Maintenance.retention_step` and :meth:`Maintenance.rollup_step` periodically (every
:data:`STEP_PERIOD_S`), starting :data:`STARTUP_DELAY_S` after it started. A step does nothing unless its job is
due:

- retention is due when no retention job was created since the latest fire time of
  ``data_retention_cron_expression`` (UTC); so a replica that was down at that time catches up when it starts.
  Retention also deletes the jobs that finished longer than ``MSR_JOB_KEEP_DAYS`` ago, with their export files;
- the rollup refresh is due when no refresh job was created within the last ``cagg_refresh_interval_hours``.

A due job runs under a Redis lock (``SET NX PX`` with a random token, renewed while the job runs, released by a
compare-and-delete script), so one replica runs it while the others skip. It is recorded in ``jobs`` with its
progress; an operator may cancel it, and it stops at its next step. A job whose replica died is marked failed by
the next replica that takes the lock; the work itself is idempotent, so the next run finishes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from croniter import croniter
from redis.exceptions import RedisError

from app import metrics
from app.coordination.lease import Held, Leases
from app.coordination.redis import RedisConnection
from app.domain.admin_settings import RuntimeSettings
from app.web import utc_now
from store.jobs import Job, JobRepository, ProgressReport, run_job
from store.pool import Database
from store.retention import Retention, retention_cutoff
from store.rollup import refresh_rollup

_log = logging.getLogger("msr.jobs")

RETENTION = "retention"
"""The kind of retention jobs."""
ROLLUP_REFRESH = "rollup_refresh"
"""The kind of histogram rollup refresh jobs."""
STEP_PERIOD_S = 60.0
"""How often each replica looks whether a maintenance job is due (cron has minute resolution)."""
STARTUP_DELAY_S = 60.0
"""How long a replica waits after start before its first maintenance step: start-up stays quick, and data
ingested by clients the moment a replica comes up is never raced by the retention of a missed run."""
LOCK_TTL_S = 60.0
"""Lease of a job lock; the holder renews it every third of it, so a dead holder frees it within this time."""


class LockLostError(RuntimeError):
    """The job's lock expired or was taken while the job ran (Redis restarted, or the replica stalled)."""


class RedisLock:
    """A lease on one Redis key: held by whoever set it with their random token, until released or expired."""

    def __init__(self, redis: RedisConnection, name: str, ttl_s: float = LOCK_TTL_S) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be > 0")
        self.key = redis.key("lock", name)
        self.ttl_ms = max(1, round(ttl_s * 1000))
        self._held = Held(self.key, secrets.token_hex(16))
        self._leases = Leases(redis)

    async def acquire(self) -> bool:
        """Take the lock if nobody holds it."""
        return await self._leases.take(self.key, self._held.token, self.ttl_ms)

    async def renew(self) -> bool:
        """Extend the lease; False when this holder lost the lock."""
        return await self._leases.renew(self._held, self.ttl_ms)

    async def release(self) -> bool:
        """Give the lock up, unless another holder has it by now; whether this call released it."""
        return await self._leases.release(self.key, self._held.token)

    @contextlib.asynccontextmanager
    async def kept_alive(self) -> AsyncIterator[Callable[[], bool]]:
        """While the block runs, renew the lease every third of it; yields "is the lock still held?"."""
        held = True

        async def renew_forever() -> None:
            nonlocal held
            while held:
                await asyncio.sleep(self.ttl_ms / 3000)
                try:
                    held = await self.renew()
                except RedisError:
                    _log.warning("could not renew lock %s; trying again", self.key)
            _log.warning("lost lock %s", self.key)

        renewer = asyncio.create_task(renew_forever(), name=f"msr:renew:{self.key}")
        try:
            yield lambda: held
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer


Work = Callable[[ProgressReport], Awaitable[Mapping[str, Any]]]
"""A job's work: gets a progress callback, returns the job's result."""


class ExclusiveJobs:
    """Runs a job of a kind on at most one replica at a time, recording it in ``jobs``."""

    def __init__(self, jobs: JobRepository, redis: RedisConnection, *, lock_ttl_s: float = LOCK_TTL_S) -> None:
        self._jobs = jobs
        self._redis = redis
        self._lock_ttl_s = lock_ttl_s

    async def run(
        self,
        kind: str,
        work: Work,
        *,
        still_due: Callable[[], Awaitable[bool]] | None = None,
        params: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> Job | None:
        """Run ``work`` as a job of ``kind`` if this replica gets the kind's lock; None when another one has it.

        ``still_due`` is asked again once the lock is held (another replica may have just run the job). A failed
        job is logged and recorded; its exception does not propagate. ``now`` is the job's creation time (the
        instant its schedule was judged by; None: the database's clock).
        """
        lock = RedisLock(self._redis, f"job:{kind}", self._lock_ttl_s)
        if not await lock.acquire():
            return None
        try:
            if still_due is not None and not await still_due():
                return None
            abandoned = await self._jobs.abandon_unfinished(kind)
            if abandoned:
                _log.warning("marked %d %s job(s) of a stopped replica failed", len(abandoned), kind)
            job = await self._jobs.create(kind, params=params, created_at=now)
            async with lock.kept_alive() as held:

                async def guarded(report: ProgressReport) -> Mapping[str, Any]:
                    async def checked(progress: float) -> None:
                        if not held():
                            raise LockLostError(f"lost the {kind} lock; another replica may run the job")
                        await report(progress)

                    return await work(checked)

                started = time.monotonic()
                try:
                    finished: Job | None = await run_job(self._jobs, job, guarded)
                except Exception:
                    # run_job recorded the failure; the next due step tries again.
                    finished = await self._jobs.get(job.id)
                status = finished.status if finished is not None else "failed"
                metrics.job_finished(kind, status, time.monotonic() - started)
                return finished
        finally:
            try:
                await lock.release()
            except RedisError:
                _log.warning("could not release lock %s; it expires by itself", lock.key)


class Maintenance:
    """Retention and rollup refresh on their schedules (see the module's docstring)."""

    def __init__(
        self,
        db: Database,
        redis: RedisConnection,
        runtime: RuntimeSettings,
        jobs: JobRepository,
        *,
        job_keep: timedelta,
        startup_delay_s: float = STARTUP_DELAY_S,
    ) -> None:
        self._db = db
        self._job_keep = job_keep
        self._runtime = runtime
        self._jobs = jobs
        self._exclusive = ExclusiveJobs(jobs, redis)
        self._first_step_at = time.monotonic() + startup_delay_s

    async def retention_step(self) -> None:
        """Periodic step: run retention when it is due."""
        if time.monotonic() >= self._first_step_at:
            await self.run_retention_if_due(utc_now())

    async def rollup_step(self) -> None:
        """Periodic step: refresh the histogram rollup when it is due."""
        if time.monotonic() >= self._first_step_at:
            await self.run_rollup_refresh_if_due(utc_now())

    async def run_retention_if_due(self, now: datetime) -> Job | None:
        """Run retention if no retention job was created since the cron's latest fire time; the job, or None."""
        settings = self._runtime.current
        fired: datetime = croniter(settings.data_retention_cron_expression, now).get_prev(datetime)

        async def due() -> bool:
            return await self._jobs.latest_since(RETENTION, fired) is None

        if not await due():
            return None
        cutoff = retention_cutoff(now, settings.max_playback_range)
        retention = Retention(self._db, work_mem_mb=settings.query_work_mem_mb)

        async def work(report: ProgressReport) -> Mapping[str, Any]:
            result = (await retention.apply(cutoff, report=report)).as_json()
            return {**result, "jobs_deleted": await self._jobs.prune_finished(now - self._job_keep)}

        return await self._exclusive.run(RETENTION, work, still_due=due, params={"cutoff": cutoff.isoformat()}, now=now)

    async def run_rollup_refresh_if_due(self, now: datetime) -> Job | None:
        """Refresh the rollup if no refresh job was created within the refresh interval; the job, or None."""
        settings = self._runtime.current
        since = now - timedelta(hours=settings.cagg_refresh_interval_hours)

        async def due() -> bool:
            return await self._jobs.latest_since(ROLLUP_REFRESH, since) is None

        if not await due():
            return None
        lag = timedelta(days=settings.cagg_refresh_lag_days)

        async def work(report: ProgressReport) -> Mapping[str, Any]:
            state = await refresh_rollup(self._db, now, lag, report=report)
            until = state.refreshed_until
            return {"refreshed_until": None if until is None else until.isoformat()}

        return await self._exclusive.run(ROLLUP_REFRESH, work, still_due=due, now=now)
