"""Loading generated data (``msr demo``, ``msr bench-data``, and the first ``msr serve`` in embedded mode).

Each loader migrates the database first, so it works on a database no server has started on yet.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from store.datasets import DEMO, DatasetSpec, LoadResult, load_dataset, tenant_has_events
from store.migrate import migrate
from store.pool import Database, PoolConfig

DEMO_TENANT = uuid.UUID("2878ac59-ad8b-4a94-bd97-2d9ef371fc06")
"""The tenant of the demo data and of the development admin token."""
DEMO_ADMIN = "f67cb8f5-0645-444d-a4bd-c61aaf1b2db0"
"""The user id of the development admin token."""
DEMO_SEED = 7
"""The seed of the demo data (any fixed value: the demo looks the same on every machine)."""


def _database(database_url: str) -> Database:
    # A bulk load runs long statements (the COPY, ANALYZE, checkpoints of 100k entities): no timeouts.
    return Database(
        PoolConfig(dsn=database_url, min_size=1, max_size=2, command_timeout_s=3600, statement_timeout_ms=0)
    )


async def load_demo_if_empty(database_url: str, tenant_id: uuid.UUID, now: datetime) -> LoadResult | None:
    """Load the demo data (three days ending ``now``) for ``tenant_id`` unless the database has any event.

    None when the database had events, so nothing was loaded.
    """
    await migrate(database_url)
    db = _database(database_url)
    await db.open()
    try:
        if await tenant_has_events(db):
            return None
        return await load_dataset(db, DEMO, tenant_id, now.replace(microsecond=0), seed=DEMO_SEED)
    finally:
        await db.close()


async def load_bench_data(
    database_url: str, spec: DatasetSpec, tenant_id: uuid.UUID, end: datetime, seed: int
) -> LoadResult:
    """Load a benchmark data set for a tenant that has no events; ValueError when it has some."""
    await migrate(database_url)
    db = _database(database_url)
    await db.open()
    try:
        return await load_dataset(db, spec, tenant_id, end, seed=seed)
    finally:
        await db.close()
