"""Fixtures: real PostgreSQL and Redis (embedded unless MSR_TEST_DATABASE_URL / MSR_TEST_REDIS_URL are set),
a migrated template database cloned per test, and real servers on loopback."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.embedded import EmbeddedRedis
from app.settings import Settings
from store.migrate import migrate
from store.partitions import maintain_partitions
from store.pool import Database, PoolConfig
from store.settings import SettingsRepository
from tests.support import TEST_SECRET, RunningServer, embedded_postgres, scratch_database, serve, with_database

pytest_plugins = ["tests.figures"]


@pytest.fixture(scope="session")
def pg_base_url() -> Iterator[str]:
    """A PostgreSQL server for the whole run."""
    given = os.environ.get("MSR_TEST_DATABASE_URL")
    if given:
        yield given
        return
    with embedded_postgres("msr-test-pg-") as (_, dsn):
        yield dsn


@pytest.fixture(scope="session")
def redis_base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server for the whole run (tests isolate themselves by key prefix)."""
    given = os.environ.get("MSR_TEST_REDIS_URL")
    if given:
        yield given
        return
    redis = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    try:
        yield redis.start()
    finally:
        redis.stop()


@pytest.fixture(scope="session")
def template_database(pg_base_url: str) -> Iterator[str]:
    """A migrated database that every test clones (fast: a file copy inside PostgreSQL).

    It holds the event partitions a server creates at start-up for the default playback range around now, so
    that each test's server finds them made: creating them one transaction a day took most of a test's set-up.
    """
    name = f"msr_template_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(pg_base_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        url = with_database(pg_base_url, name)
        await migrate(url)
        db = Database(PoolConfig(dsn=url, min_size=1, max_size=1))
        await db.open()
        try:
            days_back = (await SettingsRepository(db).get()).settings.max_playback_range
            await maintain_partitions(db, datetime.now(UTC), days_back=days_back)
        finally:
            await db.close()

    async def drop() -> None:
        conn = await asyncpg.connect(pg_base_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(create())
    yield name
    asyncio.run(drop())


@pytest.fixture
async def database_url(pg_base_url: str, template_database: str) -> AsyncIterator[str]:
    """A fresh migrated database for one test."""
    async with scratch_database(pg_base_url, "msr_test", template_database) as url:
        yield url


@pytest.fixture
def settings(database_url: str, redis_base_url: str, tmp_path: Path) -> Settings:
    """Settings of a test server: its own database and Redis key prefix."""
    return Settings(
        database_url=database_url,
        redis_url=redis_base_url,
        redis_prefix=f"t{uuid.uuid4().hex[:10]}:",
        data_dir=tmp_path / "data",
        jwt_secret=TEST_SECRET,
        settings_poll_s=0.1,
        db_pool_min=1,
        db_pool_max=5,
    )


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    """A real server for the test's settings."""
    async with serve(settings) as running:
        yield running


@pytest.fixture
def start_server() -> Callable[[Settings], AbstractAsyncContextManager[RunningServer]]:
    """Start more servers (another replica, other settings) inside a test."""
    return serve


@pytest.fixture(autouse=True)
async def fail_on_unhandled_task_errors() -> AsyncIterator[None]:
    """A background task that dies with an exception fails the test that caused it."""
    errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield
    loop.set_exception_handler(None)
    assert not errors, f"unhandled errors in tasks: {errors}"
