"""Daily event partitions: created ahead, idempotent, and never blocked by rows in the default partition."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

from store.events import EventFilters, NewEvent
from store.partitions import (
    StorageKind,
    ensure_partitions,
    maintain_partitions,
    partition_name,
    prepare_event_storage,
)
from tests.store.model import read_events, read_state


async def partitions(db) -> set[str]:
    async with db.connection() as conn:
        rows = await conn.fetch("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'events'::regclass")
    return {row[0] for row in rows}


async def test_without_timescaledb_events_stay_in_native_partitions(db):
    assert await prepare_event_storage(db) is StorageKind.PARTITIONS


async def test_maintenance_creates_a_partition_per_day_from_the_playback_range_to_two_days_ahead(db):
    now = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)
    created = await maintain_partitions(db, now, days_back=3)
    expected = [partition_name(date(2026, 3, day)) for day in range(7, 13)]
    assert created == expected
    assert set(expected) <= await partitions(db)
    assert await maintain_partitions(db, now, days_back=3) == []


async def test_two_replicas_maintaining_partitions_at_once_create_each_once(db):
    now = datetime(2026, 4, 1, tzinfo=UTC)
    first, second = await asyncio.gather(
        maintain_partitions(db, now, days_back=2), maintain_partitions(db, now, days_back=2)
    )
    assert sorted(first + second) == [partition_name(date(2026, 3, 30) + timedelta(days=d)) for d in range(5)]


async def test_rows_in_the_default_partition_move_into_the_new_partition_of_their_day(db, events):
    tenant = uuid.uuid4()
    day = datetime(2025, 6, 1, tzinfo=UTC)
    batch = [
        NewEvent(tenant, "public.a", str(i), "c", f'{{"i": {i}}}', day + timedelta(hours=i * 10)) for i in range(10)
    ]
    await events.ingest(batch)
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events_default WHERE tenant_id = $1", tenant) == 10
    created = await ensure_partitions(db, date(2025, 6, 1), date(2025, 6, 2))
    assert created == [partition_name(date(2025, 6, 1)), partition_name(date(2025, 6, 2))]
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events_default WHERE tenant_id = $1", tenant) == 5
        assert await conn.fetchval("SELECT count(*) FROM events_p20250601") == 3
        assert await conn.fetchval("SELECT count(*) FROM events_p20250602") == 2
    everything = EventFilters()
    read = await read_events(events, tenant, day - timedelta(days=1), day + timedelta(days=4), everything)
    assert [item.entity_id for item in read] == [str(i) for i in range(10)]
    assert len(await read_state(events, tenant, day + timedelta(days=4), everything)) == 10
    # Identity still holds across the move: a retry is all duplicates.
    assert (await events.ingest(batch)).duplicates == 10
