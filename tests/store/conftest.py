"""Store-level fixtures: a Database on the test's fresh migrated database."""

from collections.abc import AsyncIterator

import pytest

from store.events import EventStore
from store.pool import Database, PoolConfig
from store.snapshots import SnapshotStore


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(PoolConfig(dsn=database_url, min_size=1, max_size=4))
    await database.open()
    yield database
    await database.close()


@pytest.fixture
def events(db: Database) -> EventStore:
    return EventStore(db, chunk_size=7)


@pytest.fixture
def snapshots(db: Database) -> SnapshotStore:
    return SnapshotStore(db)
