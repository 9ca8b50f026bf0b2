"""Per-tenant configuration of seed 001: the snapshot schedule and the tables snapshots cover."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from store import queries
from store.pool import Database

_Q = queries.load("tenant_config.sql")

DEFAULT_SNAPSHOT_INTERVAL = "0 * * * *"
"""The schedule of a tenant that never set one (migration 0001's column default): hourly."""


@dataclass(frozen=True, slots=True)
class TenantConfig:
    """A tenant's configuration, as stored. Validation happens at the API boundary."""

    tenant_id: uuid.UUID
    snapshot_interval: str
    """A 5-field cron expression: when checkpoints are taken."""
    snapshot_list_tables: tuple[str, ...]
    """The ``schema.table`` names snapshots cover; empty means every table of the tenant."""
    updated_at: datetime
    updated_by: str | None


def _config(row: asyncpg.Record) -> TenantConfig:
    return TenantConfig(
        row["tenant_id"],
        row["snapshot_interval"],
        tuple(row["snapshot_list_tables"]),
        row["updated_at"],
        row["updated_by"],
    )


class TenantConfigRepository:
    """Reads and writes ``tenant_config`` rows. A tenant gets the defaults at its first ingest."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, tenant_id: uuid.UUID) -> TenantConfig | None:
        """The tenant's configuration, or None when it has none (the defaults apply)."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_Q["get_tenant_config"], tenant_id)
        return None if row is None else _config(row)

    async def all(self) -> list[TenantConfig]:
        """Every tenant's configuration (one row per tenant; small)."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(_Q["all_tenant_configs"])
        return [_config(row) for row in rows]

    async def set_snapshot_interval(self, tenant_id: uuid.UUID, cron: str, updated_by: str) -> TenantConfig:
        """Store a validated cron expression as the tenant's snapshot schedule."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_Q["set_snapshot_interval"], tenant_id, cron, updated_by)
        assert row is not None, "an upsert returns its row"
        return _config(row)

    async def set_snapshot_list_tables(
        self, tenant_id: uuid.UUID, tables: Sequence[str], updated_by: str
    ) -> TenantConfig:
        """Store validated ``schema.table`` names as the tables the tenant's snapshots cover (empty: all)."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_Q["set_snapshot_list_tables"], tenant_id, list(tables), updated_by)
        assert row is not None, "an upsert returns its row"
        return _config(row)
