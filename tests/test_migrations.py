"""Forward-only migrations: each applied exactly once, whether the server starts once, twice, or as two
replicas at the same moment."""

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from store.migrate import MIGRATION_LOCK_KEY, available_migrations, migrate
from tests.support import scratch_database


@pytest.fixture
async def empty_database(pg_base_url: str) -> AsyncIterator[str]:
    async with scratch_database(pg_base_url, "msr_empty") as url:
        yield url


async def recorded_versions(dsn: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return [row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
    finally:
        await conn.close()


def test_shipped_migrations_are_numbered_in_order():
    # Gaps are allowed: parallel branches are given their numbers in advance.
    versions = [migration.version for migration in available_migrations()]
    assert versions[0] == 1
    assert versions == sorted(set(versions))


async def test_a_fresh_database_gets_every_migration_once(empty_database):
    every = [migration.version for migration in available_migrations()]
    assert await migrate(empty_database) == every
    assert await recorded_versions(empty_database) == every
    conn = await asyncpg.connect(empty_database)
    try:
        settings_rows = await conn.fetchval("SELECT count(*) FROM settings")
    finally:
        await conn.close()
    assert settings_rows == 1


async def test_migrating_again_applies_nothing(empty_database):
    first = await migrate(empty_database)
    assert await migrate(empty_database) == []
    assert await recorded_versions(empty_database) == first


async def test_two_concurrent_starters_apply_each_migration_exactly_once(empty_database):
    every = [migration.version for migration in available_migrations()]
    first, second = await asyncio.gather(migrate(empty_database), migrate(empty_database))
    assert sorted(first + second) == every
    assert [] in (first, second)
    assert await recorded_versions(empty_database) == every


async def test_a_server_with_the_lock_held_by_another_starter_waits_for_it(empty_database):
    # A replica that is still migrating holds the advisory lock; a second starter must wait, not fail.
    holder = await asyncpg.connect(empty_database)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        waiting = asyncio.create_task(migrate(empty_database))
        done, _ = await asyncio.wait({waiting}, timeout=0.3)
        assert not done, "migrate() must wait for the lock"
        await holder.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
        applied = await asyncio.wait_for(waiting, timeout=30)
    finally:
        await holder.close()
    assert applied == [migration.version for migration in available_migrations()]
