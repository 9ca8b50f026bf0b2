"""Capture from PostgreSQL sources: the server drains each source's outbox into the event store (SPEC section 6).

:class:`CaptureService` runs on every replica: it looks at the captured tables every ``MSR_CAPTURE_POLL_S`` and
keeps one :class:`SourceDrainer` per source. A drainer holds a session-level advisory lock in its source, so one
replica at a time drains it (the others retry every poll, and one takes over when the holder's connection goes).
It drains batches of ``MSR_CAPTURE_BATCH`` until the outbox is empty, then waits for a NOTIFY from the source's
trigger, or the poll period when a notification was missed (say, across a reconnect).

Each batch is stored, then deleted from the outbox (``store.capture``): a drainer killed in between stores the
batch again, as the same events, which the store counts as duplicates; nothing is lost and nothing doubled. The
events of one source transaction carry its transaction (``pg:<source>:<txid>``) and its instant, so they are one
unit in the store even when a batch cuts the transaction.

Source snapshots (SPEC section 5): between drains, the drainer takes a tenant's source snapshot when its
``snapshot_interval`` has fired since the last one (at once, the first time: the rows the tables held before
capture began), reading the tenant's captured tables (those of ``snapshot_list_tables``, when set) in one
transaction of the source: each row is an event with op ``r`` at the snapshot's instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from croniter import croniter

from app.web import utc_now
from store.capture import CapturedTable, CaptureRepository, OutboxReader, OutboxRow
from store.errors import BeforeRetainedHistoryError
from store.events import EventStore, IngestResult, NewEvent
from store.tenant_config import TenantConfigRepository

_log = logging.getLogger("msr.capture")

Store = Callable[[Sequence[NewEvent]], Awaitable[IngestResult]]
"""Where drained events go (``EventStore.ingest``)."""
DEFAULT_SNAPSHOT_INTERVAL = "0 * * * *"
"""The ``snapshot_interval`` of a tenant without a configuration (tenant_config's default)."""
SNAPSHOT_MEMORY = timedelta(days=7)
"""How long a source remembers what its snapshots saw (a transaction open longer may be placed before one)."""


@dataclass(frozen=True, slots=True)
class SnapshotPlan:
    """A tenant's source snapshots of one source: when, and which tables."""

    tenant_id: uuid.UUID
    interval: str
    tables: tuple[CapturedTable, ...]


Plans = Callable[[], Awaitable[list[SnapshotPlan]]]
"""The snapshot plans of a drainer's source, as configured now."""


def source_key(dsn: str) -> str:
    """A short stable name of a source database (its host, port and database; no credentials)."""
    parts = urlsplit(dsn)
    where = f"{parts.hostname}:{parts.port}{parts.path}"
    return hashlib.sha256(where.encode()).hexdigest()[:12]


def outbox_event(row: OutboxRow, source: str) -> NewEvent:
    """The change event of an outbox row: at its transaction's instant, identified by transaction and row."""
    return NewEvent(
        row.tenant_id,
        row.table_name,
        row.entity_id,
        row.op,
        row.entity_state,
        row.instant,
        f"{row.txid}:{row.id}",
        f"pg:{source}:{row.txid}",
    )


class SourceDrainer:
    """Drains one source's outbox into the store until cancelled."""

    def __init__(self, dsn: str, store: Store, *, batch: int, poll_s: float, plans: Plans | None = None) -> None:
        self._dsn = dsn
        self._store = store
        self._batch = batch
        self._poll_s = poll_s
        self._plans = plans
        self._source = source_key(dsn)

    async def run(self) -> None:
        """Drain, reconnecting after failures, until cancelled."""
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("capture of source %s stopped (%s); retrying", self._source, exc)
            await asyncio.sleep(self._poll_s)

    async def _session(self) -> None:
        reader = await OutboxReader.connect(self._dsn)
        try:
            if not await reader.take_lock():
                return  # another replica drains this source
            wake = asyncio.Event()
            await reader.listen(wake.set)
            while True:
                wake.clear()
                while await self.drain_once(reader) == self._batch:
                    pass
                await self.take_due_snapshots(reader, utc_now())
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_s):
                        await wake.wait()
        finally:
            await asyncio.shield(reader.close())

    async def drain_once(self, reader: OutboxReader) -> int:
        """Store one batch of the outbox, then forget it there; the number of rows drained."""
        rows = await reader.batch(self._batch)
        if not rows:
            return 0
        await self._keep([outbox_event(row, self._source) for row in rows])
        await reader.forget([row.id for row in rows])
        return len(rows)

    async def take_due_snapshots(self, reader: OutboxReader, now: datetime) -> int:
        """Take the source snapshots due at ``now``; how many were taken."""
        taken = 0
        for plan in [] if self._plans is None else await self._plans():
            if not plan.tables:
                continue
            if not croniter.is_valid(plan.interval):
                _log.warning("tenant %s has an invalid snapshot_interval; no source snapshot", plan.tenant_id)
                continue
            last = await reader.last_snapshot(plan.tenant_id)
            if last is not None and croniter(plan.interval, last).get_next(datetime) > now:
                continue
            await self.take_snapshot(reader, plan)
            taken += 1
        return taken

    async def take_snapshot(self, reader: OutboxReader, plan: SnapshotPlan) -> None:
        """Record the plan's tables as the source holds them now: op ``r`` events at the snapshot's instant."""
        snapshot = reader.snapshot(plan.tenant_id, plan.tables, self._batch, keep=SNAPSHOT_MEMORY)
        async with contextlib.aclosing(snapshot) as chunks:
            async for taken_at, rows in chunks:
                await self._keep(
                    [NewEvent(plan.tenant_id, r.table_name, r.entity_id, "r", r.entity_state, taken_at) for r in rows]
                )

    async def _keep(self, events: list[NewEvent]) -> None:
        while events:
            try:
                await self._store(events)
            except BeforeRetainedHistoryError as exc:
                # Retention has cut the history this change belongs in: it can no longer be recorded.
                _log.error("capture of source %s drops a change older than the retained history", self._source)
                del events[exc.row]
            else:
                return


class CaptureService:
    """Keeps one drainer per captured source while :meth:`run` runs (cancel it to stop them all)."""

    def __init__(
        self,
        repository: CaptureRepository,
        configs: TenantConfigRepository,
        events: EventStore,
        own_dsn: str,
        *,
        batch: int,
        poll_s: float,
    ) -> None:
        self._repository = repository
        self._configs = configs
        self._events = events
        self._own_dsn = own_dsn
        self._batch = batch
        self._poll_s = poll_s

    async def plans(self, source_url: str) -> list[SnapshotPlan]:
        """The source snapshots of a source: per tenant, its interval and its captured tables to read."""
        by_tenant: dict[uuid.UUID, list[CapturedTable]] = {}
        for table in await self._repository.tables():
            if table.source_url == source_url:
                by_tenant.setdefault(table.tenant_id, []).append(table)
        plans = []
        for tenant_id, tables in by_tenant.items():
            config = await self._configs.get(tenant_id)
            interval = DEFAULT_SNAPSHOT_INTERVAL if config is None else config.snapshot_interval
            listed = () if config is None else config.snapshot_list_tables
            chosen = tuple(t for t in tables if not listed or t.table_name in listed)
            plans.append(SnapshotPlan(tenant_id, interval, chosen))
        return plans

    async def run(self) -> None:
        """Start and stop drainers as sources come and go; stops them all when cancelled or failing."""
        drainers: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                wanted = set(await self._repository.sources())
                for url in wanted - drainers.keys():
                    drainer = SourceDrainer(
                        url or self._own_dsn,
                        self._events.ingest,
                        batch=self._batch,
                        poll_s=self._poll_s,
                        plans=functools.partial(self.plans, url),
                    )
                    drainers[url] = asyncio.create_task(drainer.run(), name=f"msr:capture:{source_key(url)}")
                for url in drainers.keys() - wanted:
                    stopped = drainers.pop(url)
                    stopped.cancel()
                    await asyncio.gather(stopped, return_exceptions=True)
                await asyncio.sleep(self._poll_s)
        finally:
            for task in drainers.values():
                task.cancel()
            await asyncio.gather(*drainers.values(), return_exceptions=True)
