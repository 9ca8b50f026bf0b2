"""Exports of a replay window as NDJSON or MCAP files, written by background jobs (kind ``export``).

``POST /replay/exports`` records a scheduled job (its :class:`ExportSpec` in the job's params) and wakes this
replica's :class:`ExportRunner`. Every replica runs one, which takes scheduled export jobs one at a time, each
under a Redis lock named after the job, so that exactly one replica writes it. The job streams the window's events
from PostgreSQL (``EventStore.events_between``, a server-side cursor) through an encoder into a
:class:`store.exports.PieceBuffer` whose full pieces go to PostgreSQL as they fill: memory stays bounded by a chunk
of events plus a piece (and, for MCAP, the writer's chunk). Progress is reported after each chunk of events, where
a cancel is seen (a safe point). A running export whose lock expired (its replica died) is marked failed by the
next runner that looks; its partial file is removed.

- NDJSON: one line per event, exactly the items of ``GET /replay/events``.
- MCAP (``profile`` empty, JSON messages): one ``jsonschema`` schema and one channel per table (topic: the table's
  name), each event a message at its ``event_timestamp`` (log and publish time) whose data is the same JSON item;
  zstd-compressed chunks with the usual indexes and summary, so Foxglove opens and seeks it directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec
from mcap.writer import Writer as McapWriter
from redis.exceptions import RedisError

from app.coordination.redis import RedisConnection
from app.domain.jobs_runner import LockLostError, RedisLock
from app.web import parse_rfc3339, rfc3339
from store.errors import ConflictError
from store.events import EventFilters, EventStore, StoredEvent
from store.exports import ExportFiles, PieceBuffer
from store.jobs import Job, JobRepository, ProgressReport, run_job

_log = logging.getLogger("msr.exports")
_ENCODER = msgspec.json.Encoder()

EXPORT = "export"
"""The kind of export jobs."""
IDLE_POLL_S = 5.0
"""How often an idle runner looks for export jobs that another replica scheduled (a local POST wakes it at once)."""


class ExportFormat(StrEnum):
    """What an export writes."""

    NDJSON = "ndjson"
    MCAP = "mcap"

    @property
    def media_type(self) -> str:
        """The download's ``Content-Type``."""
        return "application/x-ndjson" if self is ExportFormat.NDJSON else "application/octet-stream"


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """What to export: the events of ``(start, end]`` kept by ``filters``, in ``format``."""

    start: datetime
    end: datetime
    filters: EventFilters
    format: ExportFormat

    def as_params(self) -> dict[str, Any]:
        """The job's params (JSON)."""
        filters = self.filters
        return {
            "start": rfc3339(self.start),
            "end": rfc3339(self.end),
            "format": self.format.value,
            "tables": None if filters.tables is None else list(filters.tables),
            "filter_tables": None if filters.filter_tables is None else list(filters.filter_tables),
            "filter_min_timestamp": None
            if filters.filter_min_timestamp is None
            else rfc3339(filters.filter_min_timestamp),
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ExportSpec:
        """The spec a job's params hold (written by :meth:`as_params`)."""

        def instant(key: str) -> datetime:
            moment = parse_rfc3339(params[key])
            if moment is None:
                raise ValueError(f"export params: {key} is not an instant")
            return moment

        def tables(key: str) -> tuple[str, ...] | None:
            value = params.get(key)
            return None if value is None else tuple(value)

        filters = EventFilters(
            tables=tables("tables"),
            filter_tables=tables("filter_tables"),
            filter_min_timestamp=None
            if params.get("filter_min_timestamp") is None
            else instant("filter_min_timestamp"),
        )
        return cls(instant("start"), instant("end"), filters, ExportFormat(params["format"]))


class _Encoder:
    """Turns chunks of events into a file's bytes, written into a :class:`PieceBuffer`."""

    def __init__(self, out: PieceBuffer) -> None:
        self.out = out

    def add(self, chunk: list[StoredEvent]) -> None:
        self.out.write(_ENCODER.encode_lines(chunk))

    def finish(self) -> None:
        """Write what closes the file."""


def table_schema(table: str) -> dict[str, Any]:
    """The JSON schema of a table's MCAP messages: the items of ``GET /replay/events``."""
    return {
        "title": table,
        "description": f"change events of {table}",
        "type": "object",
        "properties": {
            "entity_id": {"type": "string"},
            "table_name": {"type": "string", "const": table},
            "op": {"type": "string", "enum": ["c", "r", "u", "d"]},
            "entity_state": {"type": ["object", "null"], "description": "the row after the change (null: deleted)"},
            "event_timestamp": {"type": "string", "format": "date-time"},
            "seq": {"type": "integer"},
        },
        "required": ["entity_id", "table_name", "op", "entity_state", "event_timestamp", "seq"],
    }


class _McapEncoder(_Encoder):
    def __init__(self, out: PieceBuffer) -> None:
        super().__init__(out)
        self._writer = McapWriter(out)  # type: ignore[arg-type]  # it needs only write() and tell()
        self._writer.start()
        self._channels: dict[str, int] = {}
        self._sequence: dict[int, int] = {}

    def _channel(self, table: str) -> int:
        channel = self._channels.get(table)
        if channel is None:
            schema = self._writer.register_schema(table, "jsonschema", _ENCODER.encode(table_schema(table)))
            channel = self._writer.register_channel(table, "json", schema)
            self._channels[table] = channel
            self._sequence[channel] = 0
        return channel

    def add(self, chunk: list[StoredEvent]) -> None:
        for event in chunk:
            channel = self._channel(event.table_name)
            self._sequence[channel] += 1
            nanos = _nanoseconds(event.event_timestamp)
            # MCAP sequences are 32-bit per channel.
            sequence = self._sequence[channel] & 0xFFFFFFFF
            self._writer.add_message(channel, nanos, _ENCODER.encode(event), nanos, sequence)

    def finish(self) -> None:
        self._writer.finish()  # type: ignore[no-untyped-call]  # mcap leaves it unannotated


def _nanoseconds(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


class ExportWriter:
    """Writes one export job's file from the event store into :class:`ExportFiles`."""

    def __init__(self, events: EventStore, files: ExportFiles) -> None:
        self._events = events
        self._files = files

    async def write(self, job: Job, report: ProgressReport) -> dict[str, Any]:
        """Write the file of ``job`` (an export); its result: events and bytes written."""
        if job.tenant_id is None:
            raise ValueError("an export job belongs to a tenant")
        spec = ExportSpec.from_params(job.params)
        total = int(job.params.get("total", 0))
        out = PieceBuffer()
        encoder = _McapEncoder(out) if spec.format is ExportFormat.MCAP else _Encoder(out)
        await self._files.delete(job.id)
        pieces = 0
        done = 0
        chunks = self._events.events_between(job.tenant_id, spec.start, spec.end, spec.filters)
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                encoder.add(chunk)
                done += len(chunk)
                for piece in out.full_pieces():
                    await self._files.append(job.id, pieces, piece)
                    pieces += 1
                await report(min(1.0, done / total) if total else 0.0)
        encoder.finish()
        for piece in [*out.full_pieces(), out.last_piece()]:
            if piece:
                await self._files.append(job.id, pieces, piece)
                pieces += 1
        return {"events": done, "bytes": out.tell(), "format": spec.format.value}


class ExportRunner:
    """This replica's export worker: runs scheduled export jobs one at a time (see the module's docstring)."""

    def __init__(self, jobs: JobRepository, files: ExportFiles, writer: ExportWriter, redis: RedisConnection) -> None:
        self._jobs = jobs
        self._files = files
        self._writer = writer
        self._redis = redis
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A job was scheduled here: look at once."""
        self._wake.set()

    async def step(self) -> None:
        """Wait for a wake-up (or :data:`IDLE_POLL_S`), then run every pending export this replica can take."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(IDLE_POLL_S):
                await self._wake.wait()
        self._wake.clear()
        for job_id, status in await self._files.pending():
            lock = RedisLock(self._redis, f"job:{EXPORT}:{job_id}")
            if not await lock.acquire():
                continue  # another replica runs it
            try:
                if status == "running":
                    await self._abandon(job_id)
                else:
                    await self._run(job_id, lock)
            finally:
                try:
                    await lock.release()
                except RedisError:
                    _log.warning("could not release lock %s; it expires by itself", lock.key)

    async def _abandon(self, job_id: uuid.UUID) -> None:
        # Its lock is free while it runs: the replica that ran it is gone.
        with contextlib.suppress(ConflictError):  # it finished meanwhile
            await self._jobs.fail(job_id, "abandoned: its replica stopped")
            await self._files.delete(job_id)
            _log.warning("export %s of a stopped replica marked failed", job_id)

    async def _run(self, job_id: uuid.UUID, lock: RedisLock) -> None:
        job = await self._jobs.get(job_id)
        if job is None:
            return
        async with lock.kept_alive() as held:

            async def work(report: ProgressReport) -> dict[str, Any]:
                async def checked(progress: float) -> None:
                    if not held():
                        raise LockLostError(f"lost the lock of export {job_id}")
                    await report(progress)

                return await self._writer.write(job, checked)

            try:
                finished = await run_job(self._jobs, job, work)
            except ConflictError:
                return  # cancelled before it started
            except Exception:
                # run_job recorded the failure.
                await self._files.delete(job_id)
                return
        if finished.status != "completed":
            await self._files.delete(job_id)
