"""The replay reads of seed 000: the state at T, the events between two instants, and the playback range.

Bodies are streamed: the state and long event windows go out chunk by chunk as PostgreSQL's cursor yields them,
with ``entity_state`` passed through as the stored JSON text. The first chunk is read before the answer starts,
so that an unavailable database is still a 503 in the envelope rather than a cut connection.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any

import anyio
import msgspec
from litestar import Request, Response, get
from litestar.params import FromQuery, HeaderParameter, QueryParameter
from litestar.response import Stream

from app.auth import Principal
from app.domain.paging import EventPage
from app.domain.replay import (
    PlaybackRange,
    check_in_range,
    check_window,
    current_window,
    decode_cursor,
    encode_cursor,
    parse_filters,
    parse_instant,
)
from app.errors import validation_error
from app.openapi_docs import TABLE_LIST_PATTERN, Body, StreamedAnswer, answer, errors, page_size_parameter
from app.routes.replay_schemas import (
    ChangeEvent,
    EventsEnvelope,
    GapsEnvelope,
    HistogramEnvelope,
    PlaybackRangeEnvelope,
    StateEnvelope,
)
from app.routes.sessions import parse_uuid
from app.services import PrincipalDep, Services, ServicesDep
from app.web import envelope, rfc3339, utc_now_rfc3339
from playback.messages import MAX_SKIP_GAP_S
from store.events import StoredEvent
from store.rollup import MAX_BUCKETS, histogram, quiet_stretches

SessionHeader = Annotated[str | None, HeaderParameter(name="X-Session-ID")]
"""The session a replay call works in (``X-Session-ID``), else the ``session_id`` query parameter."""

_ENCODER = msgspec.json.Encoder()
_NDJSON = "application/x-ndjson"


def table_list_parameter(name: str, description: str) -> Any:
    """A query parameter naming tables, comma separated, as :func:`parse_filters` reads them."""
    return QueryParameter(name=name, description=description, schema_extra={"pattern": TABLE_LIST_PATTERN})


_MAX_PAGE = 100_000
Tables = Annotated[
    str | None,
    table_list_parameter("tables", "only these tables: table or schema.table, comma separated (at most 100)"),
]
FilterTables = Annotated[
    str | None,
    table_list_parameter(
        "filter_tables", "tables whose events before filter_min_timestamp are left out (give both or neither)"
    ),
]
Limit = Annotated[
    str | None,
    page_size_parameter("limit", "events per page", _MAX_PAGE),
]
Bucket = Annotated[
    str | None,
    QueryParameter(
        name="bucket",
        description="bucket width, a whole number of minutes: 60s, 5m, 1h, 1d (default: about 200 buckets)",
        schema_extra={"pattern": r"^\s*[0-9]{1,6}[smhd]?\s*$"},
    ),
]

MinQuiet = Annotated[
    str | None,
    QueryParameter(
        name="min_s",
        description="the shortest stretch with no events to answer, in seconds (default 60)",
        schema_extra={"type": "number", "minimum": 0.000_001, "maximum": MAX_SKIP_GAP_S},
    ),
]


_STATE_ANSWER = StreamedAnswer("the state, streamed as one JSON envelope", {"application/json": Body(StateEnvelope)})
_EVENTS_ANSWER = StreamedAnswer(
    "the events in order, streamed: one JSON envelope, or NDJSON (one event a line) for Accept: application/x-ndjson",
    {"application/json": Body(EventsEnvelope), _NDJSON: Body(ChangeEvent)},
    {"X-Next-Cursor": "NDJSON with a limit: the cursor of the next page, when more events follow"},
)
# Which session a replay read works in: 404 unknown, 409 SESSION_INACTIVE when it has ended.
_SESSION_ERRORS = errors(404, 409)


async def _session_and_range(
    services: Services, principal: Principal, header_id: str | None, query_id: str | None
) -> PlaybackRange:
    raw = header_id if header_id is not None else query_id
    session_id = parse_uuid(raw, "session_id") if raw is not None else None
    await services.sessions.use(principal, session_id)
    return await current_window(services.events, services.runtime, principal.tenant_id)


async def _first_chunk(
    chunks: AsyncGenerator[list[StoredEvent], None],
) -> list[StoredEvent]:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return []
    except BaseException:
        await chunks.aclose()
        raise


def _json_items(chunk: list[StoredEvent], first: bool) -> bytes:
    # Encode a chunk as a JSON array and splice its inside into the surrounding array.
    inner = _ENCODER.encode(chunk)[1:-1]
    return inner if first else b"," + inner


@get(
    "/replay/range",
    tags=["replay"],
    summary="The playback range",
    responses={200: answer(PlaybackRangeEnvelope, "the caller's tenant's playback range")},
)
async def get_range(principal: PrincipalDep, services: ServicesDep) -> Response[dict[str, Any]]:
    """``{max_days, start_date, end_date, earliest_valid_date}`` for the caller's tenant."""
    window = await current_window(services.events, services.runtime, principal.tenant_id)
    return envelope(window.as_json(), "Get playback range successfully")


@get(
    "/replay/state",
    tags=["replay"],
    summary="The state at an instant",
    responses=_SESSION_ERRORS,
    opt={"answers": {200: _STATE_ANSWER}},
)
async def get_state(
    principal: PrincipalDep,
    services: ServicesDep,
    x_session_id: SessionHeader = None,
    session_id: FromQuery[str | None] = None,
    timestamp: FromQuery[str | None] = None,
    tables: Tables = None,
    filter_tables: FilterTables = None,
    filter_min_timestamp: FromQuery[str | None] = None,
) -> Stream:
    """Every entity's latest event at ``timestamp`` (now when absent), deletes left out; streamed."""
    filters = parse_filters(tables, filter_tables, filter_min_timestamp)
    window = await _session_and_range(services, principal, x_session_id, session_id)
    at = window.end if timestamp is None else check_in_range(parse_instant(timestamp, "timestamp"), window, "timestamp")
    chunks = services.events.state_at(
        principal.tenant_id, at, filters, work_mem_mb=services.runtime.current.query_work_mem_mb
    )
    first = await _first_chunk(chunks)

    async def body() -> AsyncIterator[bytes]:
        async with contextlib.aclosing(chunks):
            yield b'{"data":['
            count = 0
            async for chunk in _all_chunks(first, chunks):
                if chunk:
                    yield _json_items(chunk, count == 0)
                    count += len(chunk)
            yield f'],"message":"Get initial state successfully","sent_at":"{utc_now_rfc3339()}"}}'.encode()

    return Stream(body(), media_type="application/json")


@get(
    "/replay/events",
    tags=["replay"],
    summary="The events between two instants",
    responses=_SESSION_ERRORS,
    opt={"answers": {200: _EVENTS_ANSWER}},
)
async def get_events(
    request: Request[Any, Any, Any],
    principal: PrincipalDep,
    services: ServicesDep,
    start: FromQuery[str],
    end: FromQuery[str],
    x_session_id: SessionHeader = None,
    session_id: FromQuery[str | None] = None,
    tables: Tables = None,
    filter_tables: FilterTables = None,
    filter_min_timestamp: FromQuery[str | None] = None,
    limit: Limit = None,
    cursor: FromQuery[str | None] = None,
) -> Stream:
    """The events with ``start < event_timestamp <= end`` in order; paged with ``limit`` and ``cursor``.

    JSON by default (``page.next_cursor`` when more follow); NDJSON with ``Accept: application/x-ndjson``
    (then the next cursor is in the ``X-Next-Cursor`` header).
    """
    filters = parse_filters(tables, filter_tables, filter_min_timestamp)
    page_size = _page_size(limit)
    after = decode_cursor(cursor) if cursor is not None else None
    window = await _session_and_range(services, principal, x_session_id, session_id)
    first_instant, last_instant = parse_instant(start, "start"), parse_instant(end, "end")
    # The window's length first: a window longer than the playback range is INVALID_PLAYBACK_WINDOW (seed 000),
    # which the range checks of its ends would otherwise always pre-empt.
    check_window(first_instant, last_instant, window)
    check_in_range(first_instant, window, "start")
    check_in_range(last_instant, window, "end")
    page = EventPage(
        services.events,
        principal.tenant_id,
        first_instant,
        last_instant,
        filters,
        after=after,
        size=page_size,
        work_mem_mb=services.runtime.current.query_work_mem_mb,
    )
    if _NDJSON in request.headers.get("accept", ""):
        return await _ndjson_events(page)
    return await _json_events(page)


def _page_size(limit: str | None) -> int | None:
    if limit is None:
        return None
    if not limit.isdigit() or not 1 <= int(limit) <= _MAX_PAGE:
        raise validation_error(f"limit must be an integer from 1 to {_MAX_PAGE}", {"field": "limit"})
    return int(limit)


def _next_cursor(page: EventPage) -> str | None:
    return None if page.next_position is None else encode_cursor(page.next_position)


async def _all_chunks(
    first: list[StoredEvent], rest: AsyncGenerator[list[StoredEvent], None]
) -> AsyncIterator[list[StoredEvent]]:
    """``first``, then the chunks of ``rest``, each read out of reach of the stream's cancellation.

    When its client goes, Litestar's stream cancels its task, and anyio cancels every later wait of that task too: a
    read cancelled inside the database cursor would have its transaction's rollback cancelled as well, and the pool
    would take back a connection still in a transaction. So a read finishes its chunk; the stream ends at its next
    send, and the body's ``aclosing`` then ends the read's transaction outside the cancelled task.
    """
    yield first
    while True:
        with anyio.CancelScope(shield=True):
            chunk = await anext(rest, None)
        if chunk is None:
            return
        yield chunk


async def _json_events(page: EventPage) -> Stream:
    chunks = page.chunks()
    first = await _first_chunk(chunks)

    async def body() -> AsyncIterator[bytes]:
        async with contextlib.aclosing(chunks):
            yield b'{"data":['
            sent = 0
            async for chunk in _all_chunks(first, chunks):
                if chunk:
                    yield _json_items(chunk, sent == 0)
                    sent += len(chunk)
            paging = {"limit": page.size, "count": page.count, "next_cursor": _next_cursor(page)}
            tail = {"message": "Successfully retrieved transaction logs.", "page": paging, "sent_at": utc_now_rfc3339()}
            yield b"]," + _ENCODER.encode(tail)[1:]

    return Stream(body(), media_type="application/json")


async def _ndjson_events(page: EventPage) -> Stream:
    chunks = page.chunks()
    first = await _first_chunk(chunks)
    if page.size is not None:
        # The next cursor goes in a header, so a page (bounded by its size and instant) is read whole first.
        async with contextlib.aclosing(chunks):
            lines = [_ENCODER.encode_lines(chunk) async for chunk in _all_chunks(first, chunks)]
        cursor = _next_cursor(page)
        headers = {"X-Next-Cursor": cursor} if cursor else {}
        return Stream(iter(lines), media_type=_NDJSON, headers=headers)

    async def body() -> AsyncIterator[bytes]:
        async with contextlib.aclosing(chunks):
            async for chunk in _all_chunks(first, chunks):
                yield _ENCODER.encode_lines(chunk)

    return Stream(body(), media_type=_NDJSON)


_BUCKET = re.compile(r"^(\d{1,6})([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DEFAULT_BUCKETS = 200


def _bucket(raw: str | None, start: datetime, end: datetime) -> timedelta:
    if raw is None:
        # About _DEFAULT_BUCKETS bars across the window, in whole minutes.
        minutes = max(1, math.ceil((end - start) / timedelta(minutes=1) / _DEFAULT_BUCKETS))
        return timedelta(minutes=minutes)
    match = _BUCKET.match(raw.strip())
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)] if match else 0
    if seconds < 60 or seconds % 60:
        raise validation_error(
            "bucket must be a whole number of minutes such as 60s, 5m, 1h or 1d", {"field": "bucket"}
        )
    return timedelta(seconds=seconds)


async def _timeline_window(
    services: Services, principal: Principal, start: str | None, end: str | None
) -> tuple[datetime, datetime]:
    """``[start, end]`` of a timeline read (the histogram, the gaps): the playback range by default, checked."""
    window = await current_window(services.events, services.runtime, principal.tenant_id)
    first = window.start if start is None else parse_instant(start, "start")
    last = window.end if end is None else parse_instant(end, "end")
    check_window(first, last, window)
    check_in_range(first, window, "start")
    check_in_range(last, window, "end")
    return first, last


@get(
    "/replay/histogram",
    tags=["replay"],
    summary="Event counts per time bucket",
    responses={200: answer(HistogramEnvelope, "the event counts per bucket")},
)
async def get_histogram(
    principal: PrincipalDep,
    services: ServicesDep,
    start: FromQuery[str | None] = None,
    end: FromQuery[str | None] = None,
    bucket: Bucket = None,
    tables: Tables = None,
) -> Response[dict[str, Any]]:
    """The tenant's event counts per bucket (and per table) in ``[start, end)``, the playback range by default.

    Served from the per-minute rollup (refreshed every ``cagg_refresh_interval_hours``), the last
    ``cagg_refresh_lag_days`` and the range's edges counted live.
    """
    filters = parse_filters(tables, None, None)
    first, last = await _timeline_window(services, principal, start, end)
    size = _bucket(bucket, first, last)
    if first == last or (last - first) / size > MAX_BUCKETS:
        raise validation_error(f"the window must hold 1 to {MAX_BUCKETS} buckets", {"field": "bucket"})
    buckets = await histogram(services.db, principal.tenant_id, first, last, size, filters.tables)
    return envelope(
        {
            "start": rfc3339(first),
            "end": rfc3339(last),
            "bucket_seconds": int(size.total_seconds()),
            "buckets": [{"start": rfc3339(b.start), "count": b.count, "tables": b.tables} for b in buckets],
        },
        "Get histogram successfully",
    )


def _min_quiet(raw: str | None) -> timedelta:
    """``min_s`` of ``/replay/gaps``: seconds, from a microsecond to ``MAX_SKIP_GAP_S`` (default 60)."""
    if raw is None:
        return timedelta(seconds=60)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    # Under a microsecond is no duration (a timedelta's resolution): refused like zero.
    if not 0.000_001 <= seconds <= MAX_SKIP_GAP_S:
        raise validation_error(
            f"min_s must be a number of seconds from 0.000001 to {MAX_SKIP_GAP_S:g}",
            {"field": "min_s", "maximum": MAX_SKIP_GAP_S},
        )
    return timedelta(seconds=seconds)


@get(
    "/replay/gaps",
    tags=["replay"],
    summary="Quiet stretches: no events for at least min_s seconds",
    responses={200: answer(GapsEnvelope, "the quiet stretches")},
)
async def get_gaps(
    principal: PrincipalDep,
    services: ServicesDep,
    start: FromQuery[str | None] = None,
    end: FromQuery[str | None] = None,
    min_s: MinQuiet = None,
) -> Response[dict[str, Any]]:
    """The tenant's stretches with no event, at least ``min_s`` long, overlapping ``[start, end)``.

    What a ``start`` with ``skip_gaps`` jumps over: from the same rollup as the histogram, edges exact from the events.
    """
    quiet = _min_quiet(min_s)
    first, last = await _timeline_window(services, principal, start, end)
    if first == last:
        raise validation_error("end must be after start", {"field": "end"})
    stretches = await quiet_stretches(services.db, principal.tenant_id, first, last, quiet)
    return envelope(
        {
            "start": rfc3339(first),
            "end": rfc3339(last),
            "min_s": quiet.total_seconds(),
            "gaps": [{"from": rfc3339(s.after), "to": rfc3339(s.before)} for s in stretches],
        },
        "Get gaps successfully",
    )


ROUTES = [get_range, get_state, get_events, get_histogram, get_gaps]
