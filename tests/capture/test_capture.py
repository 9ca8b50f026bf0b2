"""Capture from a real PostgreSQL source database (SPEC section 6): triggers write each change to the source's
outbox in the changing transaction, the drainer stores them at least once and idempotently, and the replay is
exactly what the source committed, in the order it committed it."""

import asyncio
import contextlib
import json
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime

import asyncpg
import pytest

from app.domain.capture import SourceDrainer
from store.capture import CapturedTable, CaptureRepository, CaptureSetupError, OutboxReader, install_capture
from store.events import EventFilters

TENANT = uuid.UUID(int=77)
FAR = datetime(2100, 1, 1, tzinfo=UTC)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class RolledBackError(Exception):
    pass


async def capture(source_url: str) -> None:
    await install_capture(source_url, CapturedTable(TENANT, source_url, "public.vehicles", "id"))


async def drain_all(source_url, store, batch=7) -> int:
    """Drain the outbox until it is empty; the number of rows drained."""
    drainer = SourceDrainer(source_url, store, batch=batch, poll_s=1.0)
    reader = await OutboxReader.connect(source_url)
    try:
        total = 0
        while drained := await drainer.drain_once(reader):
            total += drained
        return total
    finally:
        await reader.close()


async def source_rows(source_url) -> dict[str, dict]:
    conn = await asyncpg.connect(source_url)
    try:
        rows = await conn.fetch("SELECT id::text AS id, to_json(v)::text AS state FROM public.vehicles AS v")
    finally:
        await conn.close()
    return {row["id"]: json.loads(row["state"]) for row in rows}


async def stored_state(events) -> dict[str, dict]:
    items = [item async for chunk in events.state_at(TENANT, FAR, EventFilters()) for item in chunk]
    return {item.entity_id: json.loads(bytes(item.entity_state)) for item in items}


async def stored_history(events) -> list:
    return [item async for chunk in events.events_between(TENANT, EPOCH, FAR, EventFilters()) for item in chunk]


async def worker(source_url: str, number: int, seed: int) -> None:
    """Random transactions on a few shared rows: inserts, updates of one or more rows, deletes, and rollbacks."""
    rng = random.Random(seed)
    conn = await asyncpg.connect(source_url)
    try:
        for step in range(10):
            rollback = rng.random() < 0.25
            with contextlib.suppress(RolledBackError, asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError):
                async with conn.transaction():
                    for _ in range(rng.randint(1, 3)):
                        key = rng.randint(1, 6)
                        action = rng.choice(["upsert", "upsert", "upsert", "delete"])
                        marker = f"rolled back {number}.{step}" if rollback else f"w{number}.{step}"
                        if action == "delete":
                            await conn.execute("DELETE FROM public.vehicles WHERE id = $1", key)
                        else:
                            await conn.execute(
                                """INSERT INTO public.vehicles (id, name, speed, seen, geom)
                                   VALUES ($1, $2, $3, now(), '{"type": "Point", "coordinates": [103.8, 1.3]}')
                                   ON CONFLICT (id) DO UPDATE
                                   SET name = excluded.name, speed = excluded.speed, version = vehicles.version + 1""",
                                key,
                                marker,
                                rng.randint(0, 9999) / 100,
                            )
                        await asyncio.sleep(0)
                    if rollback:
                        raise RolledBackError
    finally:
        await conn.close()


async def test_concurrent_transactions_with_rollbacks_replay_exactly_in_commit_order(source_url, db, events):
    await capture(source_url)
    await asyncio.gather(*(worker(source_url, number, seed=number) for number in range(6)))
    conn = await asyncpg.connect(source_url)
    try:
        await conn.execute("TRUNCATE public.vehicles")
        await conn.execute("INSERT INTO public.vehicles (id, name) VALUES (1, 'after the truncate')")
    finally:
        await conn.close()
    await asyncio.gather(*(worker(source_url, number, seed=100 + number) for number in range(3)))
    drained = await drain_all(source_url, events.ingest)

    assert drained > 0
    assert await stored_state(events) == await source_rows(source_url)
    history = await stored_history(events)
    assert not [item for item in history if b"rolled back" in bytes(item.entity_state)]
    # Every row's committed versions follow each other in the replay as they did in the source.
    versions = defaultdict(list)
    for item in history:
        if item.op == "d":
            versions[item.entity_id].append(None)
        else:
            versions[item.entity_id].append(json.loads(bytes(item.entity_state))["version"])
    for entity, sequence in versions.items():
        life = []
        for version in [*sequence, None]:
            if version is None:
                assert life == list(range(len(life))), (entity, sequence)
                life = []
            else:
                life.append(version)
    # A transaction is one instant, and nothing is stored twice.
    async with db.connection() as msr:
        spread = await msr.fetch("SELECT txn FROM events GROUP BY txn HAVING count(DISTINCT event_timestamp) > 1")
        assert spread == []
        assert await msr.fetchval("SELECT count(*) FROM events WHERE event_id NOT LIKE 'truncate:%'") == drained - 1


class CrashError(Exception):
    pass


@pytest.mark.parametrize("kill", ["after the store committed", "while the store writes"])
async def test_a_drainer_killed_mid_drain_loses_and_duplicates_nothing(source_url, events, kill):
    await capture(source_url)
    conn = await asyncpg.connect(source_url)
    try:
        for batch in range(5):
            async with conn.transaction():
                for key in range(1, 8):
                    await conn.execute(
                        "INSERT INTO public.vehicles (id, name) VALUES ($1, $2) "
                        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, version = vehicles.version + 1",
                        key,
                        f"b{batch}",
                    )
    finally:
        await conn.close()
    calls = 0
    blocked = asyncio.Event()

    async def dying_store(batch):
        nonlocal calls
        calls += 1
        if calls < 3:
            return await events.ingest(batch)
        if kill == "after the store committed":
            await events.ingest(batch)
            raise CrashError
        blocked.set()
        await asyncio.Event().wait()  # killed here, before anything of this batch is stored
        return None

    drainer = SourceDrainer(source_url, dying_store, batch=6, poll_s=1.0)
    reader = await OutboxReader.connect(source_url)
    task = asyncio.create_task(drain_forever(drainer, reader))
    if kill == "while the store writes":
        await asyncio.wait_for(blocked.wait(), 10)
        task.cancel()
    with contextlib.suppress(CrashError, asyncio.CancelledError):
        await task
    await reader.close()

    await drain_all(source_url, events.ingest)
    history = await stored_history(events)
    assert len(history) == 35
    assert len({(i.entity_id, bytes(i.entity_state)) for i in history}) == 35
    assert await stored_state(events) == await source_rows(source_url)


async def drain_forever(drainer, reader):
    while await drainer.drain_once(reader):
        pass


async def test_a_table_without_its_key_column_or_with_a_nullable_one_is_refused(source_url):
    with pytest.raises(CaptureSetupError, match="no column"):
        await install_capture(source_url, CapturedTable(TENANT, source_url, "public.vehicles", "plate"))
    with pytest.raises(CaptureSetupError, match="NOT NULL"):
        await install_capture(source_url, CapturedTable(TENANT, source_url, "public.vehicles", "speed"))
    with pytest.raises(CaptureSetupError, match="no table"):
        await install_capture(source_url, CapturedTable(TENANT, source_url, "public.nothing", "id"))


async def wait_for_events(events, count):
    async with asyncio.timeout(20):
        while len(await stored_history(events)) < count:
            await asyncio.sleep(0.05)


async def test_the_server_snapshots_then_drains_a_source_on_its_notifications_and_stops_cleanly(
    source_url, settings, start_server, db, events
):
    table = CapturedTable(TENANT, source_url, "public.vehicles", "id")
    conn = await asyncpg.connect(source_url)
    try:
        await conn.execute("INSERT INTO public.vehicles (id, name) VALUES (0, 'there before capture')")
        await install_capture(source_url, table)
        await CaptureRepository(db).add(table)
        # A poll period far longer than the test: only the trigger's NOTIFY can wake the drainer in time.
        async with start_server(settings.replace(capture_poll_s=600.0)):
            await wait_for_events(events, 1)  # the first source snapshot
            await conn.execute("INSERT INTO public.vehicles (id, name, speed) VALUES (1, 'bus 1', 20.46)")
            await wait_for_events(events, 2)
            async with conn.transaction():
                await conn.execute("UPDATE public.vehicles SET speed = 30.5 WHERE id = 1")
                await conn.execute("INSERT INTO public.vehicles (id, name) VALUES (2, 'bus 2')")
            await wait_for_events(events, 4)
    finally:
        await conn.close()
    [snapshot, created, updated, second] = await stored_history(events)
    assert (snapshot.op, snapshot.entity_id) == ("r", "0")
    assert (created.op, created.entity_id, updated.op, second.op) == ("c", "1", "u", "c")
    assert '"speed":20.46' in bytes(created.entity_state).decode()
    assert updated.event_timestamp == second.event_timestamp
    assert await stored_state(events) == await source_rows(source_url)
