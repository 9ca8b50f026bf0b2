"""The admin settings of seed 000, stored as one versioned row."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import asyncpg

from store import queries
from store.pool import Database

_Q = queries.load("settings.sql")


@dataclass(frozen=True, slots=True)
class AdminSettings:
    """The eight runtime settings, as stored. Validation happens at the API boundary."""

    max_active_sessions: int
    max_playback_range: int
    data_retention_cron_expression: str
    earliest_valid_timestamp: datetime
    query_work_mem_mb: int
    columnstore_compression_age_days: int
    cagg_refresh_interval_hours: float
    cagg_refresh_lag_days: int


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(AdminSettings))
"""The settings' names, in the order of seed 000."""


@dataclass(frozen=True, slots=True)
class VersionedSettings:
    """Settings and the version that identifies them."""

    settings: AdminSettings
    version: int


def _from_row(row: asyncpg.Record) -> VersionedSettings:
    return VersionedSettings(AdminSettings(**{name: row[name] for name in FIELD_NAMES}), row["version"])


class SettingsRepository:
    """Reads and writes the settings row."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self) -> VersionedSettings:
        """The current settings."""
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_Q["get_settings"])
        assert row is not None, "migration 0001 inserts the settings row"
        return _from_row(row)

    async def version(self) -> int:
        """The current version only (cheap; polled by every replica)."""
        async with self._db.connection() as conn:
            value: int = await conn.fetchval(_Q["get_settings_version"])
        return value

    async def update(self, changes: dict[str, Any], updated_by: str) -> VersionedSettings:
        """Overwrite the given fields; the others keep their values."""
        unknown = set(changes) - set(FIELD_NAMES)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}")
        args = [changes.get(name) for name in FIELD_NAMES]
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_Q["update_settings"], *args, updated_by)
        assert row is not None
        return _from_row(row)
