"""Checkpoints (SPEC section 5): invisible, invalidated by late events, taken on each tenant's cron, once."""

import asyncio
import uuid
from datetime import timedelta

from store.events import EventFilters
from store.snapshots import SnapshotStore
from store.tenant_config import TenantConfigRepository
from tests.store.model import Ev, as_state, at_minute, model_state, read_state

NO_FILTERS = EventFilters()


def history_of(count: int, *, table: str = "public.a", start_minute: int = 0) -> list[Ev]:
    """Each minute one entity is created, updated or deleted (ids cycle, so entities are re-created)."""
    ops = "cud"
    return [
        Ev(table, str(i % 5), ops[i % 3], at_minute(start_minute + i), None if ops[i % 3] == "d" else f'{{"i": {i}}}')
        for i in range(count)
    ]


async def ingest(events, tenant, history):
    return await events.ingest([ev.new(tenant) for ev in history])


async def test_a_checkpoint_is_invisible_every_item_keeps_its_events_op_time_and_seq(events, snapshots):
    tenant = uuid.uuid4()
    await ingest(events, tenant, history_of(40))
    probes = [at_minute(m) for m in (10, 20, 25, 39, 50)]
    before = {at: await read_state(events, tenant, at, NO_FILTERS) for at in probes}
    snapshot = await snapshots.take_checkpoint(tenant, at_minute(20))
    assert snapshot is not None
    assert snapshot.status == "complete"
    assert snapshot.row_count == len(before[at_minute(20)])
    for at in probes:
        after = await read_state(events, tenant, at, NO_FILTERS)
        assert sorted(after, key=lambda i: i.seq) == sorted(before[at], key=lambda i: i.seq)


async def test_a_late_event_invalidates_the_snapshots_at_or_after_it_and_answers_stay_right(events, snapshots):
    tenant = uuid.uuid4()
    history = history_of(30)
    await ingest(events, tenant, history)
    early = await snapshots.take_checkpoint(tenant, at_minute(5))
    middle = await snapshots.take_checkpoint(tenant, at_minute(15))
    late = await snapshots.take_checkpoint(tenant, at_minute(25))
    late_event = Ev("public.a", "late", "c", at_minute(15), '{"late": true}')
    await ingest(events, tenant, [late_event])
    status = {s.id: s.status for s in await snapshots.snapshots(tenant)}
    assert status == {early.id: "complete", middle.id: "invalid", late.id: "invalid"}
    history.append(late_event)
    for minute in (15, 20, 29):
        at = at_minute(minute)
        state = {(i.table_name, i.entity_id) for i in await read_state(events, tenant, at, NO_FILTERS)}
        assert state == set(model_state(history, at, NO_FILTERS))


async def test_a_duplicate_of_an_old_event_invalidates_nothing(events, snapshots):
    tenant = uuid.uuid4()
    history = history_of(10)
    await ingest(events, tenant, history)
    snapshot = await snapshots.take_checkpoint(tenant, at_minute(9))
    result = await ingest(events, tenant, history[:3])
    assert (result.accepted, result.duplicates) == (0, 3)
    assert [s.status for s in await snapshots.snapshots(tenant)] == ["complete"]
    assert snapshot is not None


async def test_a_checkpoint_of_some_tables_serves_them_and_other_tables_come_from_the_history(events, snapshots):
    tenant = uuid.uuid4()
    history = history_of(20, table="public.a") + history_of(20, table="public.b", start_minute=1)
    await ingest(events, tenant, history)
    snapshot = await snapshots.take_checkpoint(tenant, at_minute(12), ["public.a"])
    assert snapshot is not None
    assert snapshot.tables == ("public.a",)
    assert snapshot.row_count == len(model_state(history, at_minute(12), EventFilters(tables=("public.a",))))
    for at in (at_minute(12), at_minute(18)):
        for chosen in (NO_FILTERS, EventFilters(tables=("public.b",))):
            state = {(i.table_name, i.entity_id) for i in await read_state(events, tenant, at, chosen)}
            assert state == set(model_state(history, at, chosen))


async def test_a_second_checkpoint_of_the_same_instant_is_not_taken(events, snapshots):
    tenant = uuid.uuid4()
    await ingest(events, tenant, history_of(5))
    assert await snapshots.take_checkpoint(tenant, at_minute(3)) is not None
    assert await snapshots.take_checkpoint(tenant, at_minute(3)) is None


async def test_checkpoints_taken_while_late_events_arrive_are_never_wrong(events, snapshots):
    tenant = uuid.uuid4()
    history = history_of(30)
    await ingest(events, tenant, history)
    checkpoints_done = asyncio.Event()

    async def late_ingest():
        number = 0
        while not checkpoints_done.is_set():
            late = Ev("public.b", f"late-{number}", "c", at_minute(number % 30), f'{{"late": {number}}}')
            await ingest(events, tenant, [late])
            history.append(late)
            number += 1

    async def checkpoints():
        try:
            for minute in range(1, 30, 2):
                await snapshots.take_checkpoint(tenant, at_minute(minute))
        finally:
            checkpoints_done.set()

    await asyncio.gather(late_ingest(), checkpoints())
    for snapshot in await snapshots.snapshots(tenant):
        if snapshot.status == "complete":
            # The state at a snapshot's instant is read from that snapshot alone.
            state = await read_state(events, tenant, snapshot.taken_at, NO_FILTERS)
            assert as_state(state) == model_state(history, snapshot.taken_at, NO_FILTERS)
    for minute in range(0, 31, 3):
        at = at_minute(minute)
        assert as_state(await read_state(events, tenant, at, NO_FILTERS)) == model_state(history, at, NO_FILTERS)


async def wait_until(condition, timeout=10.0):
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.01)


async def test_a_checkpoint_waits_for_an_ingest_in_flight_and_includes_its_events(events, snapshots, db):
    tenant = uuid.uuid4()
    history = history_of(10)
    await ingest(events, tenant, history)
    older = await snapshots.take_checkpoint(tenant, at_minute(2))
    late = Ev("public.b", "late", "c", at_minute(1), '{"late": true}')
    async with db.connection() as blocker, db.connection() as observer:

        async def waiting(kind):
            query = "SELECT count(*) FROM pg_locks WHERE locktype = $1 AND NOT granted"
            return await observer.fetchval(query, kind) > 0

        # Hold the older snapshot's row, so the late ingest stops after its insert, before its commit.
        async with blocker.transaction():
            await blocker.execute("SELECT FROM snapshots WHERE id = $1 FOR UPDATE", older.id)
            in_flight = asyncio.create_task(ingest(events, tenant, [late]))
            await wait_until(lambda: waiting("transactionid"))
            checkpoint = asyncio.create_task(snapshots.take_checkpoint(tenant, at_minute(5)))

            async def checkpoint_waits_or_is_done():
                return checkpoint.done() or await waiting("advisory")

            await wait_until(checkpoint_waits_or_is_done)
    await in_flight
    assert await checkpoint is not None
    state = await read_state(events, tenant, at_minute(5), NO_FILTERS)
    assert as_state(state) == model_state([*history, late], at_minute(5), NO_FILTERS)


async def test_due_snapshots_follow_the_tenants_cron_and_a_second_call_takes_none(events, snapshots, db):
    tenant = uuid.uuid4()
    await ingest(events, tenant, history_of(200))  # 00:00 to 03:19, and a default configuration (hourly)
    now = at_minute(200)
    taken = await snapshots.take_due_snapshots(now, horizon=timedelta(days=1))
    assert [s.taken_at for s in taken] == [at_minute(0), at_minute(60), at_minute(120), at_minute(180)]
    assert all(s.tables == () for s in taken)
    assert await snapshots.take_due_snapshots(now, horizon=timedelta(days=1)) == []
    await TenantConfigRepository(db).set_snapshot_interval(tenant, "*/30 * * * *", "test")
    taken = await snapshots.take_due_snapshots(at_minute(260), horizon=timedelta(days=1))
    assert [s.taken_at for s in taken] == [at_minute(210), at_minute(240)]


async def test_due_snapshots_wait_for_the_settle_time_and_respect_the_budget_and_horizon(events, snapshots):
    tenant = uuid.uuid4()
    await ingest(events, tenant, history_of(300))
    taken = await snapshots.take_due_snapshots(
        at_minute(240) + timedelta(seconds=30), horizon=timedelta(hours=3, minutes=30), budget_per_tenant=2
    )
    # The horizon starts at 00:30, so 01:00 and 02:00 (budget 2); 04:00 is not settled yet.
    assert [s.taken_at for s in taken] == [at_minute(60), at_minute(120)]
    taken = await snapshots.take_due_snapshots(at_minute(242), horizon=timedelta(days=1))
    assert [s.taken_at for s in taken] == [at_minute(180), at_minute(240)]


async def test_the_scheduler_takes_the_configured_tables_only(events, snapshots, db):
    tenant = uuid.uuid4()
    await ingest(events, tenant, history_of(70) + history_of(70, table="public.b"))
    await TenantConfigRepository(db).set_snapshot_list_tables(tenant, ["public.b"], "test")
    taken = await snapshots.take_due_snapshots(at_minute(75), horizon=timedelta(days=1))
    assert [(s.taken_at, s.tables) for s in taken] == [(at_minute(0), ("public.b",)), (at_minute(60), ("public.b",))]


async def test_an_invalidated_snapshot_is_taken_again_by_the_scheduler(events, snapshots):
    tenant = uuid.uuid4()
    history = history_of(130)
    await ingest(events, tenant, history)
    first = await snapshots.take_due_snapshots(at_minute(130), horizon=timedelta(days=1))
    assert [s.taken_at for s in first] == [at_minute(0), at_minute(60), at_minute(120)]
    late_event = Ev("public.a", "late", "c", at_minute(90), "{}")
    await ingest(events, tenant, [late_event])
    again = await snapshots.take_due_snapshots(at_minute(130), horizon=timedelta(days=1))
    assert [s.taken_at for s in again] == [at_minute(120)]
    assert [(s.taken_at, s.status) for s in await snapshots.snapshots(tenant)] == [
        (at_minute(0), "complete"),
        (at_minute(60), "complete"),
        (at_minute(120), "complete"),
    ]
    assert again[0].row_count == len(model_state([*history, late_event], at_minute(120), NO_FILTERS))


async def test_two_replicas_taking_due_snapshots_at_once_take_each_instant_once(events, db):
    tenant = uuid.uuid4()
    await ingest(events, tenant, history_of(250))
    replicas = [SnapshotStore(db), SnapshotStore(db)]
    results = await asyncio.gather(
        *(replica.take_due_snapshots(at_minute(250), horizon=timedelta(days=1)) for replica in replicas)
    )
    instants = sorted(s.taken_at for result in results for s in result)
    assert instants == [at_minute(m) for m in (0, 60, 120, 180, 240)]
    stored = await replicas[0].snapshots(tenant)
    assert [(s.taken_at, s.status) for s in stored] == [(at, "complete") for at in instants]


async def test_a_tenant_without_events_gets_no_snapshots(snapshots, db):
    tenant = uuid.uuid4()
    await TenantConfigRepository(db).set_snapshot_interval(tenant, "* * * * *", "test")
    assert await snapshots.take_due_snapshots(at_minute(100), horizon=timedelta(days=1)) == []


async def test_the_earliest_instant_is_the_oldest_event_or_the_oldest_complete_snapshot(events, snapshots, db):
    tenant = uuid.uuid4()
    assert await events.earliest_instant(tenant) is None
    history = history_of(10, start_minute=5)
    await ingest(events, tenant, history)
    assert await events.earliest_instant(tenant) == at_minute(5)
    await snapshots.take_checkpoint(tenant, at_minute(9))
    async with db.connection() as conn:  # what retention does: remove what the snapshot makes redundant
        await conn.execute("DELETE FROM events WHERE tenant_id = $1 AND event_timestamp <= $2", tenant, at_minute(9))
    assert await events.earliest_instant(tenant) == at_minute(9)
    state = await read_state(events, tenant, at_minute(12), NO_FILTERS)
    assert as_state(state) == model_state(history, at_minute(12), NO_FILTERS)
