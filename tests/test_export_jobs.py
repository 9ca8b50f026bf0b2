"""Export jobs below the API: files stored in pieces across the piece size, a cancel seen at the next chunk of
events (its partial file removed), and an export whose replica died marked failed by another runner."""

import json
import uuid

import pytest

from app.domain.exports import EXPORT, ExportFormat, ExportRunner, ExportSpec, ExportWriter
from app.domain.jobs_runner import RedisLock
from store.events import EventFilters, EventStore
from store.exports import PIECE_BYTES, ExportFiles
from store.jobs import JobRepository, JobStatus, run_job
from tests import test_jobs_runner
from tests.store.model import Ev, at_minute

# The same database and Redis fixtures as the maintenance jobs' tests.
db = test_jobs_runner.db
redis = test_jobs_runner.redis


async def read_all(files: ExportFiles, job_id: uuid.UUID, first: int, last: int) -> bytes:
    return b"".join([piece async for piece in files.read(job_id, first, last)])


async def test_a_file_of_several_pieces_reads_back_from_any_offset(db):
    jobs, files = JobRepository(db), ExportFiles(db)
    job = await jobs.create(EXPORT, tenant_id=uuid.uuid4())
    data = bytes(range(256)) * (PIECE_BYTES * 5 // 2 // 256)
    for seq, offset in enumerate(range(0, len(data), PIECE_BYTES)):
        await files.append(job.id, seq, data[offset : offset + PIECE_BYTES])
    edges = [0, 1, PIECE_BYTES - 1, PIECE_BYTES, PIECE_BYTES + 1, 2 * PIECE_BYTES, len(data) - 1]
    for first in edges:
        for last in edges:
            if first <= last:
                assert await read_all(files, job.id, first, last) == data[first : last + 1], (first, last)
    await files.delete(job.id)
    with pytest.raises(LookupError):
        await read_all(files, job.id, 0, 0)


async def export_job(db, tenant, size: int, export_format: ExportFormat):
    events = EventStore(db, chunk_size=10)
    history = [Ev("public.a", str(i % 7), "u", at_minute(1, i), json.dumps({"i": i})) for i in range(size)]
    await events.ingest([ev.new(tenant) for ev in history])
    spec = ExportSpec(at_minute(0), at_minute(2), EventFilters(), export_format)
    job = await JobRepository(db).create(EXPORT, tenant_id=tenant, params={**spec.as_params(), "total": size})
    return events, job


@pytest.mark.parametrize("export_format", list(ExportFormat))
async def test_a_cancel_stops_the_export_at_its_next_chunk_and_removes_the_file(db, redis, export_format):
    tenant = uuid.uuid4()
    events, job = await export_job(db, tenant, 100, export_format)
    jobs, files = JobRepository(db), ExportFiles(db)
    writer = ExportWriter(events, files)
    reports = []

    async def work(report):
        async def cancel_after_the_second_chunk(progress):
            reports.append(progress)
            if len(reports) == 2:
                await jobs.request_cancel(job.id, tenant_id=tenant)
            await report(progress)

        return await writer.write(job, cancel_after_the_second_chunk)

    ended = await run_job(jobs, job, work)
    assert ended.status is JobStatus.CANCELLED
    assert reports == [0.1, 0.2]
    # A scheduled export cancelled before a runner takes it never starts.
    runner = ExportRunner(jobs, files, writer, redis)
    other = await jobs.create(EXPORT, tenant_id=tenant, params=job.params)
    await jobs.request_cancel(other.id)
    runner.wake()
    await runner.step()
    assert (await jobs.get(other.id)).status is JobStatus.CANCELLED
    assert (await jobs.get(other.id)).started_at is None


async def test_the_runner_writes_scheduled_exports_and_fails_those_of_a_dead_replica(db, redis):
    tenant = uuid.uuid4()
    events, job = await export_job(db, tenant, 30, ExportFormat.NDJSON)
    jobs, files = JobRepository(db), ExportFiles(db)
    # An export that a replica started, then died: running, its lock expired, half a file written.
    orphan = await jobs.create(EXPORT, tenant_id=tenant, params=job.params)
    await jobs.start(orphan.id)
    await files.append(orphan.id, 0, b"half a file")
    runner = ExportRunner(jobs, files, ExportWriter(events, files), redis)
    runner.wake()
    await runner.step()
    done, failed = await jobs.get(job.id), await jobs.get(orphan.id)
    assert done.status is JobStatus.COMPLETED
    assert done.result == {"events": 30, "bytes": done.result["bytes"], "format": "ndjson"}
    lines = (await read_all(files, job.id, 0, done.result["bytes"] - 1)).splitlines()
    assert [json.loads(line)["entity_state"] for line in lines] == [{"i": i} for i in range(30)]
    assert failed.status is JobStatus.FAILED
    assert "abandoned" in failed.error
    with pytest.raises(LookupError):
        await read_all(files, orphan.id, 0, 0)


async def test_an_export_another_replica_holds_is_left_alone(db, redis):
    tenant = uuid.uuid4()
    events, job = await export_job(db, tenant, 5, ExportFormat.MCAP)
    jobs, files = JobRepository(db), ExportFiles(db)
    held = RedisLock(redis, f"job:{EXPORT}:{job.id}")
    assert await held.acquire()
    runner = ExportRunner(jobs, files, ExportWriter(events, files), redis)
    runner.wake()
    await runner.step()
    assert (await jobs.get(job.id)).status is JobStatus.SCHEDULED
    await held.release()
    runner.wake()
    await runner.step()
    assert (await jobs.get(job.id)).status is JobStatus.COMPLETED
