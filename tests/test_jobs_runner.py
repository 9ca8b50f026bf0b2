"""Maintenance jobs (SPEC section 10): retention on its cron and the rollup refresh on its interval, each on one
replica at a time through a Redis lock, recorded as jobs with progress."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from app.coordination.redis import RedisConnection
from app.domain.admin_settings import RuntimeSettings
from app.domain.exports import EXPORT
from app.domain.jobs_runner import (
    RETENTION,
    ROLLUP_REFRESH,
    STARTUP_DELAY_S,
    ExclusiveJobs,
    Maintenance,
    RedisLock,
)
from store.events import EventStore
from store.exports import ExportFiles
from store.jobs import Job, JobRepository, JobStatus
from store.pool import Database, PoolConfig
from store.rollup import rollup_state
from store.settings import SettingsRepository
from tests.store.model import Ev

NOW = datetime(2026, 5, 20, 9, 30, tzinfo=UTC)
JOB_KEEP = timedelta(days=7)


@pytest.fixture
async def db(database_url) -> AsyncIterator[Database]:
    database = Database(PoolConfig(dsn=database_url, min_size=1, max_size=6))
    await database.open()
    yield database
    await database.close()


@pytest.fixture
async def redis(redis_base_url) -> AsyncIterator[RedisConnection]:
    connection = RedisConnection(redis_base_url, f"t{uuid.uuid4().hex[:10]}:")
    yield connection
    await connection.close()


@pytest.fixture
async def runtime(db) -> RuntimeSettings:
    settings = RuntimeSettings(SettingsRepository(db))
    await settings.load()
    await settings.update({"data_retention_cron_expression": "0 2 * * *", "max_playback_range": 3}, "test")
    return settings


@pytest.fixture
def jobs(db) -> JobRepository:
    return JobRepository(db)


def replica(db, redis, runtime, jobs, startup_delay_s: float = STARTUP_DELAY_S) -> Maintenance:
    return Maintenance(db, redis, runtime, jobs, job_keep=JOB_KEEP, startup_delay_s=startup_delay_s)


async def store_old_and_new_events(db, tenant) -> None:
    history = [
        Ev("fleet.vehicles", str(i % 4), "c" if i < 4 else "u", NOW - timedelta(days=5, hours=-i), f'{{"i": {i}}}')
        for i in range(150)
    ]
    await EventStore(db).ingest([ev.new(tenant) for ev in history])


async def test_retention_runs_once_per_cron_fire_time_and_records_a_completed_job(db, redis, runtime, jobs):
    tenant = uuid.uuid4()
    await store_old_and_new_events(db, tenant)
    maintenance = replica(db, redis, runtime, jobs)
    job = await maintenance.run_retention_if_due(NOW)
    assert job is not None
    assert (job.kind, job.status, job.progress) == (RETENTION, JobStatus.COMPLETED, 1)
    cutoff = datetime(2026, 5, 17, 9, tzinfo=UTC)
    assert job.params == {"cutoff": cutoff.isoformat()}
    assert job.result["tenants"] == 1
    assert await EventStore(db).earliest_instant(tenant) == cutoff
    # Not again until the cron fires next (02:00 the next day).
    assert await maintenance.run_retention_if_due(NOW + timedelta(hours=16)) is None
    assert await maintenance.run_retention_if_due(NOW + timedelta(hours=17)) is not None


async def test_replicas_stepping_at_once_run_retention_once(db, redis, runtime, jobs):
    await store_old_and_new_events(db, uuid.uuid4())
    replicas = [replica(db, redis, runtime, jobs) for _ in range(3)]
    ran = await asyncio.gather(*(r.run_retention_if_due(NOW) for r in replicas))
    assert len([job for job in ran if job is not None]) == 1
    assert (await jobs.list_jobs(kind=RETENTION)).total == 1


async def test_the_rollup_refresh_runs_when_its_interval_has_passed(db, redis, runtime, jobs):
    await store_old_and_new_events(db, uuid.uuid4())
    await runtime.update({"cagg_refresh_interval_hours": 2, "cagg_refresh_lag_days": 1}, "test")
    maintenance = replica(db, redis, runtime, jobs)
    job = await maintenance.run_rollup_refresh_if_due(NOW)
    assert (job.kind, job.status) == (ROLLUP_REFRESH, JobStatus.COMPLETED)
    assert (await rollup_state(db)).refreshed_until == NOW - timedelta(days=1)
    assert job.result == {"refreshed_until": (NOW - timedelta(days=1)).isoformat()}
    assert await maintenance.run_rollup_refresh_if_due(NOW + timedelta(minutes=119)) is None
    assert await maintenance.run_rollup_refresh_if_due(NOW + timedelta(minutes=121)) is not None


async def test_a_lock_is_released_only_by_its_holder(redis):
    first, second = RedisLock(redis, "job:x", 30), RedisLock(redis, "job:x", 30)
    assert await first.acquire()
    assert not await second.acquire()
    assert not await second.release()
    assert not await second.renew()
    assert await first.renew()
    assert await first.release()
    assert await second.acquire()
    assert not await first.release()
    assert await redis.client.exists(second.key) == 1


async def test_a_lock_expires_when_its_holder_stops_renewing_it(redis):
    stalled = RedisLock(redis, "job:y", 0.05)
    assert await stalled.acquire()
    other = RedisLock(redis, "job:y", 30)
    deadline = asyncio.get_running_loop().time() + 5
    while not await other.acquire():
        assert asyncio.get_running_loop().time() < deadline, "the lease never expired"
        await asyncio.sleep(0.01)


async def test_a_job_that_loses_its_lock_fails_at_its_next_step(redis, jobs):
    exclusive = ExclusiveJobs(jobs, redis, lock_ttl_s=0.3)

    async def work(report):
        await redis.client.delete(redis.key("lock", "job:z"))
        deadline = asyncio.get_running_loop().time() + 5
        while asyncio.get_running_loop().time() < deadline:
            await report(0.5)
            await asyncio.sleep(0.02)
        return {}

    job = await exclusive.run("z", work)
    assert job.status == JobStatus.FAILED
    assert "lost the z lock" in job.error


async def test_the_next_lock_holder_fails_the_job_a_stopped_replica_left_running(redis, jobs):
    left = await jobs.create("z")
    await jobs.start(left.id)

    async def work(report):
        return {"ok": True}

    job = await ExclusiveJobs(jobs, redis).run("z", work)
    assert job.status == JobStatus.COMPLETED
    abandoned = await jobs.get(left.id)
    assert abandoned.status == JobStatus.FAILED
    assert "abandoned" in abandoned.error


async def test_a_replica_skips_a_job_another_replica_holds_the_lock_of(redis, jobs):
    holder = RedisLock(redis, "job:z", 30)
    assert await holder.acquire()

    async def work(report):
        raise AssertionError("must not run")

    assert await ExclusiveJobs(jobs, redis).run("z", work) is None
    assert (await jobs.list_jobs(kind="z")).total == 0


async def test_the_periodic_steps_start_only_after_the_start_up_delay(db, redis, runtime, jobs):
    waiting = replica(db, redis, runtime, jobs, startup_delay_s=3600)
    await waiting.retention_step()
    await waiting.rollup_step()
    assert (await jobs.list_jobs()).total == 0
    ready = replica(db, redis, runtime, jobs, startup_delay_s=0)
    await ready.retention_step()
    await ready.rollup_step()
    assert {job.kind for job in (await jobs.list_jobs()).items} == {RETENTION, ROLLUP_REFRESH}


async def finished_job(db, jobs, kind: str, days_ago: float, *, tenant: uuid.UUID | None = None) -> Job:
    """A job that completed ``days_ago`` days before NOW."""
    job = await jobs.create(kind, tenant_id=tenant)
    await jobs.start(job.id)
    await jobs.complete(job.id)
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE jobs SET created_at = $2, started_at = $2, finished_at = $2 WHERE id = $1",
            job.id,
            NOW - timedelta(days=days_ago),
        )
    return job


async def test_retention_deletes_the_jobs_finished_before_the_keep_time_and_their_export_files(
    db, redis, runtime, jobs
):
    tenant = uuid.uuid4()
    files = ExportFiles(db)
    old_export = await finished_job(db, jobs, EXPORT, 8, tenant=tenant)
    await files.append(old_export.id, 0, b"old file")
    recent_export = await finished_job(db, jobs, EXPORT, 6, tenant=tenant)
    await files.append(recent_export.id, 0, b"recent file")
    unfinished = await jobs.create(EXPORT, tenant_id=tenant)
    async with db.connection() as conn:
        await conn.execute("UPDATE jobs SET created_at = $2 WHERE id = $1", unfinished.id, NOW - timedelta(days=30))
    old_erasure = await finished_job(db, jobs, "user_erasure", 10, tenant=tenant)
    older_retentions = [await finished_job(db, jobs, RETENTION, days) for days in (20, 9)]
    only_refresh = await finished_job(db, jobs, ROLLUP_REFRESH, 30)

    job = await replica(db, redis, runtime, jobs).run_retention_if_due(NOW)

    assert job is not None
    assert job.status == JobStatus.COMPLETED
    assert job.result["jobs_deleted"] == 4
    kept = {j.id for j in (await jobs.list_jobs(size=200)).items}
    assert kept == {recent_export.id, unfinished.id, only_refresh.id, job.id}
    assert not kept & {old_export.id, old_erasure.id, *(j.id for j in older_retentions)}
    with pytest.raises(LookupError):
        await read_all(files, old_export.id, 8)
    assert await read_all(files, recent_export.id, 11) == b"recent file"


async def read_all(files: ExportFiles, job_id: uuid.UUID, size: int) -> bytes:
    return b"".join([piece async for piece in files.read(job_id, 0, size - 1)])
