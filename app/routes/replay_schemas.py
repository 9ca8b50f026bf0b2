"""The shapes of the replay reads' answers, for the OpenAPI document (the routes stream or build plain dicts)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from app.openapi_docs import Instant


class ChangeEvent(msgspec.Struct):
    """A change event as the replay reads answer it (``entity_state`` is the JSON stored; null for deletes)."""

    entity_id: str
    table_name: str
    op: Literal["c", "r", "u", "d"]
    entity_state: Any
    event_timestamp: Instant
    seq: int


class EventPaging(msgspec.Struct):
    """The ``page`` of ``GET /replay/events``: ``next_cursor`` continues when more events follow."""

    limit: int | None
    count: int
    next_cursor: str | None


class StateEnvelope(msgspec.Struct):
    """``GET /replay/state``: every entity's latest event."""

    data: list[ChangeEvent]
    message: str
    sent_at: str


class EventsEnvelope(msgspec.Struct):
    """``GET /replay/events`` as JSON."""

    data: list[ChangeEvent]
    message: str
    page: EventPaging
    sent_at: str


class PlaybackRangeModel(msgspec.Struct):
    """The tenant's playback range now: ``max_days`` (``max_playback_range``), its ends, the earliest valid instant."""

    max_days: Annotated[int, msgspec.Meta(gt=0)]
    start_date: Instant
    end_date: Instant
    earliest_valid_date: Instant


class PlaybackRangeEnvelope(msgspec.Struct):
    """The playback range."""

    data: PlaybackRangeModel
    message: str
    sent_at: Instant


class HistogramBucket(msgspec.Struct):
    """The events of ``[start, start + bucket_seconds)``: in all, and per table."""

    start: Instant
    count: Annotated[int, msgspec.Meta(ge=0)]
    tables: dict[str, Annotated[int, msgspec.Meta(ge=0)]]


class HistogramModel(msgspec.Struct):
    """Event counts of ``[start, end)`` per bucket, in time order."""

    start: Instant
    end: Instant
    bucket_seconds: Annotated[int, msgspec.Meta(ge=60, multiple_of=60)]
    buckets: list[HistogramBucket]


class HistogramEnvelope(msgspec.Struct):
    """The histogram."""

    data: HistogramModel
    message: str
    sent_at: Instant


class Gap(msgspec.Struct, rename={"from_": "from"}):
    """A stretch with no events: from the last event before it (or the window's start) to the next event."""

    from_: Instant
    to: Instant


class GapsModel(msgspec.Struct):
    """The quiet stretches of ``[start, end)`` at least ``min_s`` seconds long, in time order."""

    start: Instant
    end: Instant
    min_s: float
    gaps: list[Gap]


class GapsEnvelope(msgspec.Struct):
    """The quiet stretches."""

    data: GapsModel
    message: str
    sent_at: Instant
