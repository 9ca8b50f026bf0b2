"""Source snapshots (SPEC section 5): a captured source's tables read in one transaction as op ``r`` events at the
snapshot's instant S, on the tenant's ``snapshot_interval`` (and at once the first time); a transaction the
snapshot could not see is replayed after S."""

from datetime import timedelta

import asyncpg

from app.domain.capture import CaptureService, SnapshotPlan, SourceDrainer
from app.web import utc_now
from store.capture import CapturedTable, CaptureRepository, OutboxReader, install_capture
from store.tenant_config import TenantConfigRepository
from tests.capture.test_capture import TENANT, drain_all, source_rows, stored_history, stored_state

VEHICLES = CapturedTable(TENANT, "", "public.vehicles", "id")


async def execute(source_url, *statements):
    conn = await asyncpg.connect(source_url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_the_first_snapshot_records_what_the_tables_held_before_capture_then_follows_the_interval(
    source_url, events
):
    await execute(source_url, "INSERT INTO public.vehicles (id, name, speed) VALUES (1, 'bus 1', 20.46), (2, 'b', 1)")
    await install_capture(source_url, VEHICLES)

    async def plans():
        return [SnapshotPlan(TENANT, "0 * * * *", (VEHICLES,))]

    drainer = SourceDrainer(source_url, events.ingest, batch=1, poll_s=1.0, plans=plans)
    reader = await OutboxReader.connect(source_url)
    try:
        now = utc_now()
        assert await drainer.take_due_snapshots(reader, now) == 1
        assert await drainer.take_due_snapshots(reader, now) == 0
        assert await drainer.take_due_snapshots(reader, now + timedelta(hours=1, minutes=1)) == 1
    finally:
        await reader.close()
    history = await stored_history(events)
    assert [(i.op, i.entity_id) for i in history] == [("r", "1"), ("r", "2")] * 2
    assert history[0].event_timestamp == history[1].event_timestamp < history[2].event_timestamp
    assert '"speed":20.46' in bytes(history[0].entity_state).decode()
    assert await stored_state(events) == await source_rows(source_url)


async def test_a_transaction_the_snapshot_could_not_see_is_replayed_after_it(source_url, events):
    await execute(source_url, "INSERT INTO public.vehicles (id, name) VALUES (1, 'before')")
    await install_capture(source_url, VEHICLES)
    writer = await asyncpg.connect(source_url)
    reader = await OutboxReader.connect(source_url)
    drainer = SourceDrainer(source_url, events.ingest, batch=10, poll_s=1.0)
    try:
        transaction = writer.transaction()
        await transaction.start()
        await writer.execute("UPDATE public.vehicles SET name = 'changed before S, committed after' WHERE id = 1")
        await drainer.take_snapshot(reader, SnapshotPlan(TENANT, "0 * * * *", (VEHICLES,)))
        await transaction.commit()
    finally:
        await writer.close()
        await reader.close()
    await drain_all(source_url, events.ingest)
    read, updated = await stored_history(events)
    assert (read.op, updated.op) == ("r", "u")
    assert read.event_timestamp < updated.event_timestamp
    assert await stored_state(events) == await source_rows(source_url)


async def test_a_tenants_snapshot_reads_its_captured_tables_of_snapshot_list_tables(source_url, db, events):
    await execute(source_url, "CREATE TABLE public.zones (code text PRIMARY KEY)")
    repository = CaptureRepository(db)
    await repository.add(CapturedTable(TENANT, source_url, "public.vehicles", "id"))
    await repository.add(CapturedTable(TENANT, source_url, "public.zones", "code"))
    configs = TenantConfigRepository(db)
    service = CaptureService(repository, configs, events, "", batch=10, poll_s=1.0)
    [plan] = await service.plans(source_url)
    assert (plan.interval, sorted(t.table_name for t in plan.tables)) == (
        "0 * * * *",
        ["public.vehicles", "public.zones"],
    )
    await configs.set_snapshot_interval(TENANT, "*/5 * * * *", "test")
    await configs.set_snapshot_list_tables(TENANT, ["public.zones", "public.other"], "test")
    [plan] = await service.plans(source_url)
    assert (plan.interval, [t.table_name for t in plan.tables]) == ("*/5 * * * *", ["public.zones"])
    assert await service.plans("postgresql://elsewhere/db") == []
