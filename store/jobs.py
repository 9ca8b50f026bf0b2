"""Background jobs (retention, rollup refresh, erasure, exports): their rows, progress and cancellation.

A job is ``scheduled``, then ``running`` with a progress in 0..1, and ends ``completed``, ``failed`` or
``cancelled``. Cancelling a scheduled job ends it at once; cancelling a running one sets ``cancel_requested``,
which the job sees at its next progress report (between two steps) and ends ``cancelled``. :func:`run_job` is the
one place that drives those transitions around a piece of work.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg
import msgspec

from store import queries
from store.errors import ConflictError, StoreError
from store.pool import Database

_log = logging.getLogger("msr.store.jobs")
_Q = queries.load("jobs.sql")
_MAX_PAGE_SIZE = 200


class JobStatus(StrEnum):
    """Where a job is in its life."""

    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobCancelledError(StoreError):
    """An operator asked the running job to stop; raised by a progress report, between two steps."""


@dataclass(frozen=True, slots=True)
class Job:
    """A job's row."""

    id: uuid.UUID
    kind: str
    tenant_id: uuid.UUID | None
    """The tenant the job works for; None for jobs over every tenant (retention, rollup refresh)."""
    status: JobStatus
    progress: float
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    cancel_requested: bool
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    done: int | None = None
    """Steps done, for jobs that count them (None: the job reports only a fraction)."""
    total: int | None = None
    """Steps in all, for jobs that count them."""

    @property
    def finished(self) -> bool:
        """Whether the job has ended (completed, failed or cancelled)."""
        return self.status in FINISHED


FINISHED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
"""The statuses of a job that has ended."""


@dataclass(frozen=True, slots=True)
class JobScope:
    """Which jobs a caller reaches: one tenant's (and, when ``deployment``, those over every tenant), or all."""

    tenant_id: uuid.UUID | None = None
    """None: every job."""
    deployment: bool = False
    """With a tenant: also the jobs that work for no one tenant (retention, rollup refresh)."""


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of jobs, newest first, and how many there are in all."""

    items: list[Job]
    total: int


ProgressReport = Callable[[float], Awaitable[None]]
"""What a job's work calls between steps with its progress (0..1); raises JobCancelledError when cancelled."""


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else msgspec.json.encode(value).decode()


def _job(row: asyncpg.Record) -> Job:
    result = row["result"]
    return Job(
        id=row["id"],
        kind=row["kind"],
        tenant_id=row["tenant_id"],
        status=JobStatus(row["status"]),
        progress=row["progress"],
        params=msgspec.json.decode(row["params"]),
        result=None if result is None else msgspec.json.decode(result),
        error=row["error"],
        cancel_requested=row["cancel_requested"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        done=row["progress_done"],
        total=row["progress_total"],
    )


def job_of(row: asyncpg.Record) -> Job:
    """A :class:`Job` from a record of ``jobs`` columns (for the store's other modules)."""
    return _job(row)


class JobRepository:
    """Reads and writes ``jobs`` rows."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        kind: str,
        *,
        tenant_id: uuid.UUID | None = None,
        params: Mapping[str, Any] | None = None,
        created_by: str | None = None,
        created_at: datetime | None = None,
    ) -> Job:
        """A new scheduled job; ``created_at`` is the instant a scheduler judged it due by (None: now)."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                _Q["create_job"], uuid.uuid4(), kind, tenant_id, _json(params or {}), created_by, created_at
            )
        assert row is not None, "an INSERT ... RETURNING returns its row"
        return _job(row)

    async def start(self, job_id: uuid.UUID) -> Job:
        """Mark a scheduled job running; ConflictError when it is not scheduled (cancelled meanwhile)."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_Q["start_job"], job_id)
        if row is None:
            raise ConflictError(f"job {job_id} is not scheduled")
        return _job(row)

    async def report_progress(
        self, job_id: uuid.UUID, progress: float, *, done: int | None = None, total: int | None = None
    ) -> None:
        """Record a running job's progress (and its steps ``done`` of ``total`` when it counts them).

        Raises JobCancelledError when an operator asked it to stop.
        """
        if not 0 <= progress <= 1:
            raise ValueError("progress must be within 0..1")
        async with self._db.connection() as conn:
            cancel_requested: bool | None = await conn.fetchval(_Q["report_progress"], job_id, progress, done, total)
        if cancel_requested:
            raise JobCancelledError(f"job {job_id} was cancelled")

    async def complete(self, job_id: uuid.UUID, result: Mapping[str, Any] | None = None) -> Job:
        """End a job successfully, with its result."""
        return await self._finish(job_id, JobStatus.COMPLETED, _json(result), None)

    async def fail(self, job_id: uuid.UUID, error: str) -> Job:
        """End a job with an error."""
        return await self._finish(job_id, JobStatus.FAILED, None, error)

    async def mark_cancelled(self, job_id: uuid.UUID) -> Job:
        """End a job that stopped because it was asked to."""
        return await self._finish(job_id, JobStatus.CANCELLED, None, None)

    async def _finish(self, job_id: uuid.UUID, status: JobStatus, result: str | None, error: str | None) -> Job:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_Q["finish_job"], job_id, status.value, result, error)
        if row is None:
            raise ConflictError(f"job {job_id} has finished already")
        return _job(row)

    async def request_cancel(self, job_id: uuid.UUID, *, tenant_id: uuid.UUID | None = None) -> Job | None:
        """Cancel a job: at once when scheduled, at its next step when running; None when there is no such job.

        ``tenant_id`` limits the request to that tenant's jobs (a tenant admin); None reaches every job.
        """
        outcome = await self.cancel(job_id, JobScope(tenant_id))
        return None if outcome is None else outcome[0]

    async def cancel(self, job_id: uuid.UUID, scope: JobScope) -> tuple[Job, JobStatus] | None:
        """Like :meth:`request_cancel`, within ``scope``: the job after the request and its status before it."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_Q["request_cancel"], job_id, scope.tenant_id, scope.deployment)
        return None if row is None else (_job(row), JobStatus(row["was_status"]))

    async def get(
        self, job_id: uuid.UUID, *, tenant_id: uuid.UUID | None = None, deployment: bool = False
    ) -> Job | None:
        """One job (limited to ``tenant_id``'s jobs when given, and the deployment-wide ones when ``deployment``)."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_Q["get_job"], job_id, tenant_id, deployment)
        return None if row is None else _job(row)

    async def list_jobs(
        self,
        *,
        page: int = 1,
        size: int = 20,
        tenant_id: uuid.UUID | None = None,
        kind: str | None = None,
        status: JobStatus | None = None,
        deployment: bool = False,
    ) -> JobPage:
        """Jobs newest first: page ``page`` (1-based) of ``size`` (at most 200).

        ``tenant_id`` limits them to that tenant's (and, with ``deployment``, the jobs over every tenant).
        """
        if page < 1:
            raise ValueError("page must be >= 1")
        if not 1 <= size <= _MAX_PAGE_SIZE:
            raise ValueError(f"size must be within 1..{_MAX_PAGE_SIZE}")
        state = None if status is None else status.value
        async with self._db.connection() as conn:
            rows = await conn.fetch(_Q["list_jobs"], tenant_id, kind, size, (page - 1) * size, state, deployment)
        if rows:
            total = rows[0]["total"]
        else:
            # Past the last page the window count is not there; count without it.
            total = (
                0
                if page == 1
                else (
                    await self.list_jobs(
                        page=1, size=1, tenant_id=tenant_id, kind=kind, status=status, deployment=deployment
                    )
                ).total
            )
        return JobPage([_job(row) for row in rows], total)

    async def latest_since(self, kind: str, since: datetime) -> Job | None:
        """The newest job of ``kind`` created at or after ``since``, whatever its status."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_Q["latest_job_since"], kind, since)
        return None if row is None else _job(row)

    async def prune_finished(self, before: datetime) -> int:
        """Delete the jobs that finished before ``before`` (an export's file with its job); how many.

        The newest job of each deployment-wide kind stays, whatever its age, so when retention or the rollup refresh
        last ran remains known.
        """
        async with self._db.connection() as conn:
            deleted: int = await conn.fetchval(_Q["prune_finished_jobs"], before)
        return deleted

    async def abandon_unfinished(self, kind: str, *, keep: uuid.UUID | None = None) -> list[uuid.UUID]:
        """Fail the scheduled and running jobs of ``kind`` (but ``keep``) whose runner has gone; their ids.

        Only safe for kinds that run one at a time under a lock: the caller holds it, so no other runner lives.
        """
        async with self._db.connection() as conn:
            rows = await conn.fetch(_Q["abandon_running_jobs"], kind, keep, "abandoned: its runner stopped")
        return [row["id"] for row in rows]


async def run_job(jobs: JobRepository, job: Job, work: Callable[[ProgressReport], Awaitable[Mapping[str, Any]]]) -> Job:
    """Run ``work`` as the scheduled ``job``: running, then completed with its result, failed, or cancelled.

    ``work`` gets a progress callback to call between its steps; the callback raises JobCancelledError when an
    operator cancelled the job, which ends it 'cancelled'. Any other exception ends it 'failed' and is re-raised.
    """
    await jobs.start(job.id)

    async def report(progress: float) -> None:
        await jobs.report_progress(job.id, progress)

    try:
        result = await work(report)
    except JobCancelledError:
        _log.info("job %s (%s) cancelled", job.id, job.kind)
        return await jobs.mark_cancelled(job.id)
    except Exception as exc:
        _log.exception("job %s (%s) failed", job.id, job.kind)
        await jobs.fail(job.id, f"{type(exc).__name__}: {exc}")
        raise
    return await jobs.complete(job.id, result)
