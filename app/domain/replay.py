"""The replay window and the validation of replay instants (seed 000's "Timestamp Validation").

The playback range of a tenant is ``[start, now]`` where ``start`` is the latest of: now minus
``max_playback_range`` days, ``earliest_valid_timestamp``, and the earliest instant the tenant's data can
reconstruct (its oldest snapshot or event; retention moves it forward). Every replay instant must lie in it.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.domain.admin_settings import RuntimeSettings
from app.errors import InvalidPlaybackWindowError, TimestampOutOfRangeError, validation_error
from app.web import parse_rfc3339, rfc3339, utc_now
from playback.instants import from_micros, to_micros
from store.events import EventFilters, EventStore, Position
from store.settings import AdminSettings

_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
_MAX_TABLES = 100


@dataclass(frozen=True, slots=True)
class PlaybackRange:
    """Where replay may go: ``start <= instant <= end``."""

    max_days: int
    start: datetime
    end: datetime
    earliest_valid: datetime

    def as_json(self) -> dict[str, Any]:
        """The body of ``GET /replay/range`` (the client's ``getPlaybackRange``)."""
        return {
            "max_days": self.max_days,
            "start_date": rfc3339(self.start),
            "end_date": rfc3339(self.end),
            "earliest_valid_date": rfc3339(self.earliest_valid),
        }


def playback_range(settings: AdminSettings, now: datetime, earliest_data: datetime | None) -> PlaybackRange:
    """The tenant's playback range at ``now``, given the earliest instant its data can reconstruct."""
    start = max(now - timedelta(days=settings.max_playback_range), settings.earliest_valid_timestamp)
    if earliest_data is not None:
        start = max(start, earliest_data)
    return PlaybackRange(settings.max_playback_range, min(start, now), now, settings.earliest_valid_timestamp)


async def current_window(events: EventStore, runtime: RuntimeSettings, tenant_id: uuid.UUID) -> PlaybackRange:
    """The tenant's playback range now (every caller computes it here)."""
    earliest = await events.earliest_instant(tenant_id)
    return playback_range(runtime.current, utc_now(), earliest)


def parse_instant(raw: str, field: str) -> datetime:
    """An RFC3339 instant with a zone, or a 400 naming the field."""
    moment = parse_rfc3339(raw)
    if moment is None:
        raise validation_error(
            f"{field} must be an RFC3339 instant with a zone, such as 2024-06-15T10:00:00Z", {"field": field}
        )
    return moment


def check_in_range(moment: datetime, window: PlaybackRange, field: str) -> datetime:
    """The instant itself when it lies in the playback range, else 400 TIMESTAMP_OUT_OF_RANGE with the bound."""
    details: dict[str, Any] = {
        "field": field,
        "earliest": rfc3339(window.start),
        "latest": rfc3339(window.end),
        "max_playback_range_days": window.max_days,
    }
    if moment > window.end:
        raise TimestampOutOfRangeError(f"{field} is in the future", details=details)
    if moment < window.start:
        raise TimestampOutOfRangeError(
            f"{field} is before the earliest replayable instant {details['earliest']}",
            details=details,
        )
    return moment


def check_window(start: datetime, end: datetime, window: PlaybackRange) -> None:
    """``(start, end]`` must be an interval (empty when start == end) no longer than ``max_playback_range`` days."""
    if start > end:
        raise validation_error("start must not be after end", {"field": "start"})
    if end - start > timedelta(days=window.max_days):
        raise InvalidPlaybackWindowError(
            f"the window is longer than the playback limit of {window.max_days} days",
            details={"max_playback_range_days": window.max_days},
        )


def _table_list(raw: str | None, field: str) -> tuple[str, ...] | None:
    if raw is None:
        return None
    tables = tuple(dict.fromkeys(item.strip() for item in raw.split(",") if item.strip()))
    if not tables or len(tables) > _MAX_TABLES or not all(_TABLE.match(t) for t in tables):
        raise validation_error(
            f"{field} must be a comma list of up to {_MAX_TABLES} table names (table or schema.table)",
            {"field": field},
        )
    return tables


def parse_filters(tables: str | None, filter_tables: str | None, filter_min_timestamp: str | None) -> EventFilters:
    """The filters of SPEC section 5; one of filter_tables / filter_min_timestamp without the other is a 400."""
    if (filter_tables is None) != (filter_min_timestamp is None):
        raise validation_error(
            "filter_tables and filter_min_timestamp go together: give both or neither",
            {"field": "filter_tables" if filter_tables is None else "filter_min_timestamp"},
        )
    return EventFilters(
        tables=_table_list(tables, "tables"),
        filter_tables=_table_list(filter_tables, "filter_tables"),
        filter_min_timestamp=None
        if filter_min_timestamp is None
        else parse_instant(filter_min_timestamp, "filter_min_timestamp"),
    )


def encode_cursor(position: Position) -> str:
    """An opaque paging cursor for the position after which the next page starts."""
    micros = to_micros(position.event_timestamp)
    return base64.urlsafe_b64encode(f"{micros}:{position.seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor stands for, or a 400."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, seq = (int(part) for part in text.split(":"))
        moment = from_micros(micros)
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError):
        raise validation_error("cursor is not one this server gave", {"field": "cursor"}) from None
    return Position(moment, seq)
