"""Where events live: daily native range partitions created ahead of time, or a TimescaleDB hypertable.

Native partitions (the default): ``events_pYYYYMMDD`` holds the UTC day ``[YYYY-MM-DD, +1 day)``. The server
creates them ahead (:func:`maintain_partitions`, at start-up and periodically). An event outside every partition
lands in ``events_default``, so an insert never fails for lack of a partition; when that day's partition is
created later, its rows are moved out of the default partition in the same transaction.

TimescaleDB: when the extension is available and the events table is still empty, :func:`prepare_event_storage`
replaces it by a hypertable of daily chunks, and partition maintenance has nothing to do. This path is small and
is not exercised by the test suite (the extension is not installed there).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

import asyncpg

from store import queries
from store.pool import Database

_log = logging.getLogger("msr.store.partitions")
_Q = queries.load("partitions.sql")
# A constant shared by every replica: "the MSR partition maintenance lock" (the migration lock is ...0001).
_LOCK_KEY = 0x4D53_5230_0002


class StorageKind(StrEnum):
    """How the events table is stored."""

    PARTITIONS = "partitions"
    HYPERTABLE = "timescaledb"


def partition_name(day: date) -> str:
    """The name of the partition holding the UTC day ``day``."""
    return f"events_p{day:%Y%m%d}"


async def storage_kind(db: Database) -> StorageKind:
    """Whether events are natively partitioned or a hypertable."""
    async with db.connection() as conn:
        relkind: str = await conn.fetchval(_Q["events_relkind"])
    return StorageKind.PARTITIONS if relkind == "p" else StorageKind.HYPERTABLE


async def prepare_event_storage(db: Database) -> StorageKind:
    """At start-up, after migrations: use a TimescaleDB hypertable when the extension is available.

    Only an empty events table is converted (a table with events keeps its native partitions); a server
    where the extension cannot be created (not in ``shared_preload_libraries``, no privilege) keeps them too.
    """
    kind = await storage_kind(db)
    if kind is StorageKind.HYPERTABLE:
        return kind
    async with db.connection() as conn:
        if not await conn.fetchval(_Q["timescaledb_available"]):
            return kind
        if not await conn.fetchval(_Q["events_is_empty"]):
            _log.warning("TimescaleDB is available but events are stored already: keeping native partitions")
            return kind
        try:
            async with conn.transaction():
                await conn.execute(_Q["convert_to_hypertable"])
        except asyncpg.PostgresError as exc:
            _log.warning("TimescaleDB is available but could not be used (%s): keeping native partitions", exc)
            return kind
    _log.info("events are stored in a TimescaleDB hypertable")
    return StorageKind.HYPERTABLE


async def ensure_partitions(db: Database, first: date, last: date, *, lock_timeout_ms: int = 5000) -> list[str]:
    """Create the daily partitions of ``[first, last]`` that do not exist yet; return the names created.

    Each day is one transaction under a lock shared by every replica. A table lock not granted within
    ``lock_timeout_ms`` (a long query on the default partition) fails this call; the next call retries.
    """
    if await storage_kind(db) is StorageKind.HYPERTABLE:
        return []
    async with db.connection() as conn:
        existing = {row[0] for row in await conn.fetch(_Q["event_partitions"])}
    created: list[str] = []
    day = first
    while day <= last:
        name = partition_name(day)
        if name not in existing and await _create_partition(db, day, lock_timeout_ms):
            created.append(name)
        day += timedelta(days=1)
    if created:
        _log.info("created event partitions %s", ", ".join(created))
    return created


async def maintain_partitions(db: Database, now: datetime, *, days_back: int, days_ahead: int = 2) -> list[str]:
    """Create the partitions of the UTC days from ``now - days_back`` to ``now + days_ahead``.

    Call it at start-up and periodically (hourly is plenty); ``days_back`` is the playback range in days.
    """
    today = now.astimezone(UTC).date()
    return await ensure_partitions(db, today - timedelta(days=days_back), today + timedelta(days=days_ahead))


async def _create_partition(db: Database, day: date, lock_timeout_ms: int) -> bool:
    lower = datetime(day.year, day.month, day.day, tzinfo=UTC)
    ddl = _Q["create_partition"].format(
        partition=partition_name(day),
        lower=lower.isoformat(),
        upper=(lower + timedelta(days=1)).isoformat(),
    )
    async with db.connection() as conn, conn.transaction():
        await conn.execute(_Q["lock_partition_maintenance"], _LOCK_KEY)
        # Another replica may have created it while this one waited for the lock.
        if partition_name(day) in {row[0] for row in await conn.fetch(_Q["event_partitions"])}:
            return False
        await conn.execute(_Q["set_lock_timeout"], f"{lock_timeout_ms}ms")
        await conn.execute(ddl)
    return True
