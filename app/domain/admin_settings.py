"""The admin settings as this replica sees them: a cache refreshed within a second of any replica's change.

The writer updates its own cache at once; every replica polls the settings row's version (one tiny indexed
read) every ``MSR_SETTINGS_POLL_S`` and reloads when it moved.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import msgspec
from croniter import croniter

from app.errors import validation_error
from app.web import parse_rfc3339, rfc3339
from store.settings import FIELD_NAMES, AdminSettings, SettingsRepository, VersionedSettings


class SettingsUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``PUT /admin/settings``: every field optional, the given ones validated."""

    max_active_sessions: int | msgspec.UnsetType = msgspec.UNSET
    max_playback_range: int | msgspec.UnsetType = msgspec.UNSET
    data_retention_cron_expression: str | msgspec.UnsetType = msgspec.UNSET
    earliest_valid_timestamp: str | msgspec.UnsetType = msgspec.UNSET
    query_work_mem_mb: int | msgspec.UnsetType = msgspec.UNSET
    columnstore_compression_age_days: int | msgspec.UnsetType = msgspec.UNSET
    cagg_refresh_interval_hours: int | float | msgspec.UnsetType = msgspec.UNSET
    cagg_refresh_lag_days: int | msgspec.UnsetType = msgspec.UNSET


_UPDATE_DECODER = msgspec.json.Decoder(SettingsUpdate)
_MAX_INT = 2**31 - 1
# msgspec names the field as "... - at `$.name`", or "unknown field `name`".
_FIELD_IN_ERROR = re.compile(r"at `\$\.([A-Za-z0-9_]+)`|unknown field `([^`]*)`")


def is_valid_cron(expression: str) -> bool:
    """A standard 5-field cron expression that croniter accepts."""
    return len(expression.split()) == 5 and bool(croniter.is_valid(expression))


def parse_settings_update(body: bytes) -> dict[str, Any]:
    """Decode and validate the body of ``PUT /admin/settings``; a 400 names the first bad field."""
    try:
        update = _UPDATE_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        reason = str(exc)
        details: dict[str, Any] = {"reason": reason}
        named = _FIELD_IN_ERROR.search(reason)
        if named:
            details["field"] = named.group(1) or named.group(2)
        raise validation_error(f"invalid settings: {reason}", details) from None
    except msgspec.DecodeError:
        raise validation_error("body must be a JSON object") from None
    changes: dict[str, Any] = {}
    for name in FIELD_NAMES:
        value = getattr(update, name)
        if value is msgspec.UNSET:
            continue
        changes[name] = _validated(name, value)
    if not changes:
        raise validation_error("give at least one setting to change", {"fields": list(FIELD_NAMES)})
    return changes


def _validated(name: str, value: Any) -> Any:
    if name == "data_retention_cron_expression":
        if not is_valid_cron(value):
            raise validation_error(f"{name} must be a 5-field cron expression such as '0 2 * * *'", {"field": name})
        return " ".join(value.split())
    if name == "earliest_valid_timestamp":
        moment = parse_rfc3339(value)
        if moment is None:
            raise validation_error(
                f"{name} must be an RFC3339 instant with a zone, such as 2024-01-15T00:00:00Z",
                {"field": name},
            )
        return moment
    if not value > 0:
        raise validation_error(f"{name} must be > 0", {"field": name})
    if value > _MAX_INT:
        raise validation_error(f"{name} is too large", {"field": name})
    return value


def settings_as_json(values: dict[str, Any]) -> dict[str, Any]:
    """Settings (all or some) as the API shows them."""
    shown: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, datetime):
            shown[name] = rfc3339(value)
        elif isinstance(value, float) and value.is_integer():
            shown[name] = int(value)
        else:
            shown[name] = value
    return shown


class RuntimeSettings:
    """This replica's view of the admin settings."""

    def __init__(self, repository: SettingsRepository) -> None:
        self._repository = repository
        self._current: VersionedSettings | None = None

    @property
    def current(self) -> AdminSettings:
        """The settings in force on this replica."""
        assert self._current is not None, "RuntimeSettings.load() runs at start-up"
        return self._current.settings

    async def load(self) -> None:
        """Read the settings (at start-up)."""
        self._current = await self._repository.get()

    async def refresh(self) -> None:
        """Reload when another replica changed them (called periodically)."""
        version = await self._repository.version()
        if self._current is None or version != self._current.version:
            before = self._current
            fresh = await self._repository.get()
            # A local update that landed while this read was in flight is newer: keep it; the next poll checks.
            if self._current is before:
                self._current = fresh

    async def update(self, changes: dict[str, Any], updated_by: str) -> AdminSettings:
        """Store validated changes and use them here at once."""
        updated = await self._repository.update(changes, updated_by)
        if self._current is None or updated.version > self._current.version:
            self._current = updated
        return updated.settings
