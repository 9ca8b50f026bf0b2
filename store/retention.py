"""Data retention: remove what is older than the playback window, keeping the snapshot its oldest instant needs.

For every tenant, the **kept snapshot** is its newest complete snapshot covering every table taken at or before
the cutoff; when there is none, or it is older than ``reuse_within`` before the cutoff, a checkpoint of every table
is taken at the cutoff first. Then, in this order (each step is idempotent, so an interrupted run is finished by
the next one):

1. the kept snapshot's instant is recorded as the tenant's ``retained_from``: from then on
   ``EventStore.earliest_instant`` answers it (or later), so no reader relies on data about to be removed;
2. the tenant's snapshots older than the kept one are deleted (with their rows);
3. its events at or before the kept snapshot's instant are deleted: a whole daily partition whose every tenant
   allows it is detached and dropped, other days are deleted row by row;
4. its rollup minutes that end by then are deleted.

The kept snapshot holds the state at its instant, so the state at every later instant, and the events after it,
are unchanged. A tenant whose old events could not be checkpointed (say, a statement timeout) keeps them all and
is listed as skipped; the next run tries again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from store import queries
from store.errors import StoreUnavailableError
from store.jobs import ProgressReport
from store.partitions import _LOCK_KEY as PARTITION_LOCK_KEY
from store.partitions import StorageKind, partition_name, storage_kind
from store.pool import Database
from store.rollup import forget_rollup_before
from store.snapshots import SnapshotStore

_log = logging.getLogger("msr.store.retention")
_Q = queries.load("retention.sql")
_PARTITIONS = queries.load("partitions.sql")
_DAY = timedelta(days=1)

DEFAULT_REUSE_WITHIN = timedelta(days=1)
"""How old (before the cutoff) a complete snapshot may be and still be kept instead of taking a new one."""
DROP_LOCK_TIMEOUT_MS = 2000
"""How long dropping a partition waits for its table lock before falling back to deleting its rows."""


def retention_cutoff(now: datetime, max_playback_range_days: int) -> datetime:
    """The instant before which nothing is needed: ``now - max_playback_range`` days, down to the whole hour.

    ``earliest_valid_timestamp`` does not move it: that setting only bounds what clients may ask for, and an
    operator can move it back, whereas deleted events are gone for good.
    """
    if max_playback_range_days <= 0:
        raise ValueError("max_playback_range_days must be > 0")
    return (now - timedelta(days=max_playback_range_days)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(slots=True)
class RetentionResult:
    """What one retention run did."""

    cutoff: datetime
    kept: dict[uuid.UUID, datetime] = field(default_factory=dict)
    """Per tenant, the instant of its kept snapshot (its earliest reconstructable instant from now on)."""
    checkpoints_taken: int = 0
    snapshots_deleted: int = 0
    events_deleted: int = 0
    """Events deleted row by row (those of dropped partitions are not counted)."""
    partitions_dropped: list[str] = field(default_factory=list)
    skipped: list[uuid.UUID] = field(default_factory=list)
    """Tenants with events before the cutoff for which no snapshot could be kept this time."""

    def as_json(self) -> Mapping[str, Any]:
        """The result as a job stores it."""
        return {
            "cutoff": self.cutoff.isoformat(),
            "tenants": len(self.kept),
            "checkpoints_taken": self.checkpoints_taken,
            "snapshots_deleted": self.snapshots_deleted,
            "events_deleted": self.events_deleted,
            "partitions_dropped": self.partitions_dropped,
            "skipped_tenants": [str(t) for t in self.skipped],
        }


class Retention:
    """Applies retention to every tenant of a :class:`store.pool.Database`."""

    def __init__(
        self,
        db: Database,
        *,
        reuse_within: timedelta = DEFAULT_REUSE_WITHIN,
        work_mem_mb: int | None = None,
    ) -> None:
        self._db = db
        self._snapshots = SnapshotStore(db)
        self._reuse_within = reuse_within
        self._work_mem_mb = work_mem_mb

    async def apply(self, cutoff: datetime, *, report: ProgressReport | None = None) -> RetentionResult:
        """Remove every tenant's data older than the snapshot it keeps at or before ``cutoff``.

        ``report`` (a job's progress callback) is called after each tenant and each day; it may raise to stop
        the run between two steps (a cancelled job).
        """
        result = RetentionResult(cutoff)
        async with self._db.connection() as conn:
            tenants = [row["tenant_id"] for row in await conn.fetch(_Q["tenants"])]
            oldest: datetime | None = await conn.fetchval(_Q["oldest_event_time"])
        days = _days(oldest, cutoff)
        steps = len(tenants) + len(days)
        done = 0
        for tenant_id in tenants:
            await self._keep_snapshot(tenant_id, cutoff, result)
            done += 1
            if report is not None:
                await report(done / steps)
        partitions = await self._partitions()
        for day in days:
            await self._remove_day(day, partitions, result)
            done += 1
            if report is not None:
                await report(done / steps)
        for tenant_id, kept in result.kept.items():
            await forget_rollup_before(self._db, tenant_id, kept)
        _log.info(
            "retention up to %s: %d tenants, %d events deleted, %d partitions dropped, %d snapshots deleted",
            cutoff.isoformat(),
            len(result.kept),
            result.events_deleted,
            len(result.partitions_dropped),
            result.snapshots_deleted,
        )
        return result

    async def _keep_snapshot(self, tenant_id: uuid.UUID, cutoff: datetime, result: RetentionResult) -> None:
        """Find or take the tenant's kept snapshot, and delete its older snapshots."""
        async with self._db.connection() as conn:
            kept = await conn.fetchrow(_Q["newest_full_snapshot"], tenant_id, cutoff)
            has_old_events: bool = await conn.fetchval(_Q["has_events_until"], tenant_id, cutoff)
        if has_old_events and (kept is None or kept["taken_at"] < cutoff - self._reuse_within):
            try:
                taken = await self._snapshots.take_checkpoint(tenant_id, cutoff, work_mem_mb=self._work_mem_mb)
            except StoreUnavailableError as exc:
                # Most often the statement timeout on a long history: this tenant waits for the next run.
                _log.warning("retention: checkpoint of tenant %s at %s failed: %s", tenant_id, cutoff, exc)
                taken = None
            if taken is not None:
                result.checkpoints_taken += 1
            async with self._db.connection() as conn:
                kept = await conn.fetchrow(_Q["newest_full_snapshot"], tenant_id, cutoff)
        if kept is None:
            if has_old_events:
                _log.warning("retention: no snapshot of tenant %s at %s; its events are kept", tenant_id, cutoff)
                result.skipped.append(tenant_id)
            return
        kept_at: datetime = kept["taken_at"]
        result.kept[tenant_id] = kept_at
        async with self._db.connection() as conn:
            # First: from now on readers treat the kept snapshot as the tenant's earliest instant.
            await conn.execute(_Q["set_retained_from"], tenant_id, kept_at)
            result.snapshots_deleted += await conn.fetchval(_Q["delete_snapshots_before"], tenant_id, kept_at)

    async def _partitions(self) -> dict[date, str]:
        """The native daily partitions by day (none when events are a TimescaleDB hypertable)."""
        if await storage_kind(self._db) is StorageKind.HYPERTABLE:
            return {}
        async with self._db.connection() as conn:
            names = {row[0] for row in await conn.fetch(_PARTITIONS["event_partitions"])}
        found: dict[date, str] = {}
        for name in names:
            try:
                day = datetime.strptime(name.removeprefix("events_p"), "%Y%m%d").date()
            except ValueError:
                continue  # events_default, or a table someone attached by hand
            if partition_name(day) == name:
                found[day] = name
        return found

    async def _remove_day(self, day: date, partitions: dict[date, str], result: RetentionResult) -> None:
        """Remove the events of one UTC day that the kept snapshots allow: drop its partition, or delete rows."""
        lower = datetime(day.year, day.month, day.day, tzinfo=UTC)
        upper = lower + _DAY
        name = partitions.get(day)
        if name is not None and await self._drop_if_allowed(name, upper, result):
            return
        for tenant_id, kept in result.kept.items():
            if kept < lower:
                continue
            async with self._db.connection() as conn, conn.transaction():
                await conn.execute(_Q["no_statement_timeout"])
                result.events_deleted += await conn.fetchval(_Q["delete_events"], tenant_id, lower, upper, kept)

    async def _drop_if_allowed(self, name: str, upper: datetime, result: RetentionResult) -> bool:
        """Drop a day's partition when every tenant with rows in it keeps a snapshot at or after its end."""
        async with self._db.connection() as conn:
            present = [row[0] for row in await conn.fetch(_Q["partition_tenants"].format(partition=name))]
        if any(result.kept.get(tenant_id, upper - _DAY) < upper for tenant_id in present):
            return False
        try:
            async with self._db.connection() as conn, conn.transaction():
                await conn.execute(_PARTITIONS["lock_partition_maintenance"], PARTITION_LOCK_KEY)
                await conn.execute(_PARTITIONS["set_lock_timeout"], f"{DROP_LOCK_TIMEOUT_MS}ms")
                await conn.execute(_Q["drop_partition"].format(partition=name))
        except asyncpg.LockNotAvailableError:
            _log.info("retention: partition %s is busy; deleting its rows instead", name)
            return False
        result.partitions_dropped.append(name)
        return True


def _days(oldest: datetime | None, cutoff: datetime) -> list[date]:
    """The UTC days from the oldest event's to the cutoff's, oldest first."""
    if oldest is None or oldest > cutoff:
        return []
    first = oldest.astimezone(UTC).date()
    last = cutoff.astimezone(UTC).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
