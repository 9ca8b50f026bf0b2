"""Background jobs: scheduled, running with progress, and completed, failed or cancelled (SPEC section 7)."""

import asyncio
import uuid

import pytest

from store.errors import ConflictError
from store.jobs import JobCancelledError, JobRepository, JobStatus, run_job


@pytest.fixture
def jobs(db) -> JobRepository:
    return JobRepository(db)


async def test_a_job_runs_reports_progress_and_completes_with_its_result(jobs):
    job = await jobs.create("export", tenant_id=uuid.uuid4(), params={"format": "ndjson"}, created_by="u-1")
    assert (job.status, job.progress, job.params) == (JobStatus.SCHEDULED, 0, {"format": "ndjson"})
    seen = []

    async def work(report):
        for step in (0.25, 0.5):
            await report(step)
            seen.append((await jobs.get(job.id)).progress)
        return {"rows": 42}

    done = await run_job(jobs, job, work)
    assert seen == [0.25, 0.5]
    assert (done.status, done.progress, done.result) == (JobStatus.COMPLETED, 1, {"rows": 42})
    assert done.started_at is not None
    assert done.finished_at is not None


async def test_progress_never_goes_back(jobs):
    job = await jobs.create("export")
    await jobs.start(job.id)
    await jobs.report_progress(job.id, 0.6)
    await jobs.report_progress(job.id, 0.3)
    assert (await jobs.get(job.id)).progress == 0.6
    with pytest.raises(ValueError):
        await jobs.report_progress(job.id, 1.5)


async def test_a_failing_job_ends_failed_with_the_error_and_the_error_propagates(jobs):
    job = await jobs.create("export")

    async def work(report):
        await report(0.5)
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        await run_job(jobs, job, work)
    failed = await jobs.get(job.id)
    assert (failed.status, failed.progress) == (JobStatus.FAILED, 0.5)
    assert "disk full" in failed.error


async def test_a_cancelled_running_job_stops_at_its_next_step_and_ends_cancelled(jobs):
    job = await jobs.create("export")
    first_step_done = asyncio.Event()
    cancelled = asyncio.Event()
    steps = []

    async def work(report):
        for step in range(1, 5):
            steps.append(step)
            await report(step / 4)
            first_step_done.set()
            await asyncio.wait_for(cancelled.wait(), timeout=5)
        return {}

    async def cancel():
        await asyncio.wait_for(first_step_done.wait(), timeout=5)
        asked = await jobs.request_cancel(job.id)
        assert (asked.status, asked.cancel_requested) == (JobStatus.RUNNING, True)
        cancelled.set()

    ended, _ = await asyncio.gather(run_job(jobs, job, work), cancel())
    assert steps == [1, 2]
    assert ended.status == JobStatus.CANCELLED
    assert ended.progress == 0.5


async def test_cancelling_a_scheduled_job_cancels_it_at_once_and_it_never_starts(jobs):
    job = await jobs.create("export")
    cancelled = await jobs.request_cancel(job.id)
    assert cancelled.status == JobStatus.CANCELLED
    assert cancelled.finished_at is not None
    with pytest.raises(ConflictError):
        await jobs.start(job.id)


async def test_cancelling_a_finished_job_changes_nothing(jobs):
    job = await jobs.create("export")

    async def work(report):
        return {"ok": True}

    await run_job(jobs, job, work)
    again = await jobs.request_cancel(job.id)
    assert (again.status, again.cancel_requested) == (JobStatus.COMPLETED, False)


async def test_a_report_after_cancel_raises_job_cancelled(jobs):
    job = await jobs.create("export")
    await jobs.start(job.id)
    await jobs.request_cancel(job.id)
    with pytest.raises(JobCancelledError):
        await jobs.report_progress(job.id, 0.1)


async def test_a_tenant_sees_and_cancels_only_its_own_jobs(jobs):
    mine, other = uuid.uuid4(), uuid.uuid4()
    job = await jobs.create("erasure", tenant_id=other)
    assert await jobs.get(job.id, tenant_id=mine) is None
    assert await jobs.request_cancel(job.id, tenant_id=mine) is None
    assert (await jobs.get(job.id)).status == JobStatus.SCHEDULED
    assert (await jobs.get(job.id, tenant_id=other)).id == job.id


async def test_jobs_list_newest_first_in_pages_with_the_total(jobs):
    tenant = uuid.uuid4()
    created = [await jobs.create("export", tenant_id=tenant, params={"n": n}) for n in range(5)]
    await jobs.create("export", tenant_id=uuid.uuid4())
    first = await jobs.list_jobs(page=1, size=2, tenant_id=tenant)
    second = await jobs.list_jobs(page=2, size=2, tenant_id=tenant)
    third = await jobs.list_jobs(page=3, size=2, tenant_id=tenant)
    beyond = await jobs.list_jobs(page=9, size=2, tenant_id=tenant)
    assert [j.params["n"] for j in first.items + second.items + third.items] == [4, 3, 2, 1, 0]
    assert {first.total, second.total, third.total, beyond.total} == {5}
    assert beyond.items == []
    assert (await jobs.list_jobs(size=200)).total == 6
    assert {j.id for j in created} <= {j.id for j in (await jobs.list_jobs(size=200)).items}
    with pytest.raises(ValueError):
        await jobs.list_jobs(size=201)


async def test_abandoning_fails_the_unfinished_jobs_of_a_kind_but_the_kept_one(jobs):
    stale = await jobs.create("retention")
    await jobs.start(stale.id)
    current = await jobs.create("retention")
    other_kind = await jobs.create("export")
    assert await jobs.abandon_unfinished("retention", keep=current.id) == [stale.id]
    assert (await jobs.get(stale.id)).status == JobStatus.FAILED
    assert (await jobs.get(current.id)).status == JobStatus.SCHEDULED
    assert (await jobs.get(other_kind.id)).status == JobStatus.SCHEDULED
