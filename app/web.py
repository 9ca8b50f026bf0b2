"""HTTP plumbing shared by every route: correlation ids, the success envelope, RFC3339 times."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response
from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from playback.instants import format_timestamp, to_micros

CORRELATION_HEADER = "X-Correlation-ID"
_VALID_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_STATE_KEY = "msr_correlation_id"

correlation_id_var: ContextVar[str | None] = ContextVar("msr_correlation_id", default=None)
"""The correlation id of the request being handled, for the log formatter."""


def correlation_id_of(scope: Scope) -> str:
    """The request's correlation id: the client's ``X-Correlation-ID`` when well-formed, else a new one."""
    state = scope.setdefault("state", {})
    existing = state.get(_STATE_KEY)
    if isinstance(existing, str):
        return existing
    given = ""
    for name, value in scope.get("headers", ()):
        if name == b"x-correlation-id":
            given = value.decode("latin-1")
            break
    correlation_id = given if _VALID_CORRELATION_ID.match(given) else str(uuid.uuid4())
    state[_STATE_KEY] = correlation_id
    return correlation_id


async def bind_correlation_id(request: Request[Any, Any, Any]) -> None:
    """``before_request`` hook: make the id visible to the logs of this request."""
    correlation_id_var.set(correlation_id_of(request.scope))


async def add_correlation_header(message: Message, scope: Scope) -> None:
    """``before_send`` hook: every HTTP answer carries the correlation id, errors included."""
    if message["type"] == "http.response.start":
        headers = MutableScopeHeaders.from_message(message)
        if CORRELATION_HEADER not in headers:
            headers[CORRELATION_HEADER] = correlation_id_of(scope)


async def complete_allow_header(message: Message, scope: Scope) -> None:
    """``before_send`` hook: an ``OPTIONS`` answer's ``Allow`` names every method of its path.

    Litestar's automatic ``OPTIONS`` answer lists only the methods of the first handlers registered on a path, so a
    path whose ``GET`` and ``DELETE`` live in separate handlers would otherwise hide one of them.
    """
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    handler = scope.get("route_handler")
    if handler is None:
        return
    by_path = scope["litestar_app"].route_handler_method_map
    methods = sorted({str(method) for path in handler.paths for method in by_path.get(path, {})})
    headers = MutableScopeHeaders.from_message(message)
    if methods and "allow" in headers:
        headers["Allow"] = ", ".join(methods)


def utc_now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """Format an instant as RFC3339 in UTC with a ``Z``; microseconds only when there are some."""
    return format_timestamp(to_micros(moment))


def utc_now_rfc3339() -> str:
    """``sent_at`` of an envelope: now, RFC3339, whole seconds as in the seeds."""
    return rfc3339(utc_now().replace(microsecond=0))


def envelope(
    data: Any,
    message: str | None = None,
    *,
    status_code: int = 200,
    page: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    """The success envelope ``{"data", "message"?, "page"?, "sent_at"}``."""
    body: dict[str, Any] = {"data": data}
    if message is not None:
        body["message"] = message
    if page is not None:
        body["page"] = page
    body["sent_at"] = utc_now_rfc3339()
    return Response(content=body, status_code=status_code, headers=headers, media_type="application/json")


EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
"""The earliest instant the API takes: PostgreSQL reads the first days of year 1 back without their zone."""


def parse_rfc3339(text: str) -> datetime | None:
    """Parse an RFC3339 instant that names its zone, from 1970 on; None when malformed, naive or earlier."""
    candidate = text.strip()
    if candidate.endswith(("z", "Z")):
        candidate = candidate[:-1] + "+00:00"
    if "T" not in candidate and "t" not in candidate:
        return None
    try:
        moment = datetime.fromisoformat(candidate)
        # An offset can carry the first or last day past datetime's range (0001-01-01T00:00:00+01:00).
        instant = None if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return instant if instant is not None and instant >= EARLIEST_INSTANT else None
