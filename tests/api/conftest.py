"""API-level fixtures: a server, and the event store of its database to look at what was stored."""

from collections.abc import AsyncIterator

import pytest

from store.events import EventStore
from store.pool import Database, PoolConfig


@pytest.fixture
async def stored(settings) -> AsyncIterator[EventStore]:
    """The event store of the test server's database (for reading back what the API stored)."""
    database = Database(PoolConfig(dsn=settings.database_url, min_size=1, max_size=2))
    await database.open()
    yield EventStore(database)
    await database.close()
