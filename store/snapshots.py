"""Checkpoints: snapshots materialised from the previous snapshot plus the events since, and their schedule.

A checkpoint at S holds, for each entity of the covered tables that exists at S, the row of its latest event up
to S with that event's ``op``, ``event_timestamp`` and ``seq``, so every answer is the same with or without it.
Its rows are written in ``(table_name, entity_id)`` order by one ``INSERT ... SELECT``, so reading one back is a
sequential read.

Correctness against late events (an event ingested after S with a time at or before S):
ingest marks 'invalid', in its own transaction, every live snapshot at or after its earliest new event. A
checkpoint is first registered ('building') in a short transaction holding the tenant's write lock exclusively,
while each ingest holds it shared: so every ingest either committed before the registration (and the build,
which starts after it, sees its events) or sees the registration (and invalidates it). A checkpoint becomes
'complete' only if it is still 'building'; reads use complete snapshots only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from croniter import croniter

from store import queries
from store.events import NO_FILTERS, STATE_AT_SQL, EventFilters, base_snapshot, set_work_mem, state_arguments
from store.pool import Connection, Database
from store.tenant_config import TenantConfig, TenantConfigRepository

_log = logging.getLogger("msr.store.snapshots")
_Q = queries.load("snapshots.sql")
_ONE_MICROSECOND = timedelta(microseconds=1)

# The rows of the state at S (the state query's $1..$8) become the rows of snapshot $9, in key order.
_INSERT_CHECKPOINT_ROWS = f"""
WITH written AS (
    INSERT INTO snapshot_rows (snapshot_id, table_name, entity_id, op, entity_state, event_timestamp, seq)
    SELECT $9, table_name, entity_id, op, entity_state, event_timestamp, seq
    FROM (
{STATE_AT_SQL}
    ) AS state
    ORDER BY table_name, entity_id
    RETURNING seq
)
SELECT count(*) AS row_count, COALESCE(max(seq), 0) AS max_seq FROM written
"""  # noqa: S608 - composed of the package's own SQL, no input


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot's header."""

    id: int
    tenant_id: uuid.UUID
    taken_at: datetime
    kind: str
    """``checkpoint`` or ``source``."""
    tables: tuple[str, ...]
    """Tables covered; empty means every table."""
    status: str
    """``building``, ``complete`` or ``invalid``."""
    row_count: int


def _snapshot(row: asyncpg.Record) -> Snapshot:
    return Snapshot(
        row["id"], row["tenant_id"], row["taken_at"], row["kind"], tuple(row["tables"]), row["status"], row["row_count"]
    )


class SnapshotStore:
    """Takes checkpoints, on demand or when a tenant's ``snapshot_interval`` says one is due."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._configs = TenantConfigRepository(db)

    async def take_checkpoint(
        self,
        tenant_id: uuid.UUID,
        at: datetime,
        tables: Sequence[str] = (),
        *,
        work_mem_mb: int | None = None,
    ) -> Snapshot | None:
        """Materialise the tenant's state at ``at`` for ``tables`` (empty: every table) as a checkpoint.

        None when a live snapshot of that instant exists already, or when a late event invalidated this one
        while it was being built. Safe to call from several replicas at once.
        """
        covered = sorted(set(tables))
        async with self._db.connection() as conn:
            async with conn.transaction():
                await conn.execute(_Q["lock_tenant_for_snapshot"], tenant_id)
                snapshot_id: int | None = await conn.fetchval(_Q["register_checkpoint"], tenant_id, at, covered)
            if snapshot_id is None:
                return None
            transaction = conn.transaction()
            await transaction.start()
            try:
                row = await self._build(conn, snapshot_id, tenant_id, at, covered, work_mem_mb)
            except BaseException:
                await transaction.rollback()
                raise
            if row is None:
                # A late event invalidated it while it was being built: drop its rows.
                await transaction.rollback()
                return None
            await transaction.commit()
        return _snapshot(row)

    async def _build(
        self,
        conn: Connection,
        snapshot_id: int,
        tenant_id: uuid.UUID,
        at: datetime,
        covered: list[str],
        work_mem_mb: int | None,
    ) -> asyncpg.Record | None:
        """Write the checkpoint's rows and mark it complete; None when it was invalidated meanwhile."""
        await set_work_mem(conn, work_mem_mb)
        base = await base_snapshot(conn, tenant_id, at)
        filters = NO_FILTERS if not covered else EventFilters(tables=tuple(covered))
        written = await conn.fetchrow(
            _INSERT_CHECKPOINT_ROWS, *state_arguments(tenant_id, at, base, filters), snapshot_id
        )
        assert written is not None
        row: asyncpg.Record | None = await conn.fetchrow(
            _Q["complete_snapshot"], snapshot_id, written["row_count"], written["max_seq"]
        )
        return row

    async def take_due_snapshots(
        self,
        now: datetime,
        *,
        horizon: timedelta,
        settle: timedelta = timedelta(seconds=60),
        budget_per_tenant: int = 24,
        stale_after: timedelta = timedelta(hours=1),
        work_mem_mb: int | None = None,
    ) -> list[Snapshot]:
        """Take the checkpoints the tenants' ``snapshot_interval`` crons say are due; return those taken.

        For each tenant with a configuration (every tenant that ever ingested has one), the due instants are
        the cron's fire times after its newest complete snapshot (or, without one, after its oldest event, but
        no earlier than ``now - horizon``), up to ``now - settle`` (so that events still in flight are not
        late), oldest first, at most ``budget_per_tenant`` per call: a backlog (new tenant, invalidated
        snapshots) fills over successive calls, each checkpoint built on the previous one. Idempotent, and
        safe when two replicas call it at once.
        """
        async with self._db.connection() as conn:
            await conn.execute(_Q["expire_stale_builds"], stale_after)
        taken: list[Snapshot] = []
        for config in await self._configs.all():
            if not croniter.is_valid(config.snapshot_interval):
                _log.warning("tenant %s has an invalid snapshot_interval; skipped", config.tenant_id)
                continue
            for instant in await self._due_instants(config, now, horizon, settle, budget_per_tenant):
                snapshot = await self.take_checkpoint(
                    config.tenant_id, instant, config.snapshot_list_tables, work_mem_mb=work_mem_mb
                )
                if snapshot is not None:
                    taken.append(snapshot)
        return taken

    async def _due_instants(
        self, config: TenantConfig, now: datetime, horizon: timedelta, settle: timedelta, budget: int
    ) -> list[datetime]:
        async with self._db.connection() as conn:
            await conn.execute(_Q["delete_invalid_snapshots"], config.tenant_id)
            newest: datetime | None = await conn.fetchval(_Q["newest_complete_snapshot_time"], config.tenant_id, now)
            oldest_event: datetime | None = await conn.fetchval(_Q["oldest_event_time"], config.tenant_id)
        if oldest_event is None:
            return []
        after = newest if newest is not None else oldest_event - _ONE_MICROSECOND
        after = max(after, now - horizon)
        latest = now - settle
        fires = croniter(config.snapshot_interval, after)
        due: list[datetime] = []
        while len(due) < budget:
            instant: datetime = fires.get_next(datetime)
            if instant > latest:
                break
            due.append(instant)
        return due

    async def snapshots(self, tenant_id: uuid.UUID) -> list[Snapshot]:
        """Every snapshot of the tenant, oldest first."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(_Q["list_snapshots"], tenant_id)
        return [_snapshot(row) for row in rows]
