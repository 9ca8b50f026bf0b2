"""Capture fixtures: the test's MSR database and a second, real PostgreSQL database as the source."""

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.store.conftest import db, events
from tests.support import scratch_database

__all__ = ["db", "events", "source_url"]

SOURCE_TABLE = """
CREATE TABLE public.vehicles (
    id integer PRIMARY KEY,
    name text NOT NULL,
    speed numeric(6, 2),
    version integer NOT NULL DEFAULT 0,
    seen timestamptz,
    geom jsonb
)
"""


@pytest.fixture
async def source_url(pg_base_url: str) -> AsyncIterator[str]:
    """A source database with a table ``public.vehicles`` to capture."""
    async with scratch_database(pg_base_url, "msr_source") as url:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(SOURCE_TABLE)
        finally:
            await conn.close()
        yield url
