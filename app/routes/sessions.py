"""The multi-session API of seed 000: create, terminate, delete, and the admin listing."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal, cast

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.params import FromPath, FromQuery, HeaderParameter, QueryParameter

from app.domain.sessions import ListRequest
from app.errors import validation_error
from app.openapi_docs import UUID_PATTERN, Instant, SortedPageInfo, answer, errors, page_size_parameter
from app.services import PrincipalDep, ServicesDep
from app.web import envelope, rfc3339
from store.sessions import SORTABLE_COLUMNS, SessionRow, SessionStatus

IfMatch = Annotated[
    str | None, HeaderParameter(name="If-Match", pattern=r'^"?[0-9]{1,18}"?$', description="the occ_lock read")
]
"""Optional ``If-Match: <occ_lock>`` header that makes a write conditional."""
_MAX_PAGE_SIZE = 200
PageSize = Annotated[
    str | None,
    page_size_parameter("size", "items per page (default 20)", _MAX_PAGE_SIZE),
]
"""``size`` of a paged list: 1 to 200, parsed by :func:`positive_int` (the 400 names the field)."""
SessionSort = Annotated[
    list[str] | None,
    QueryParameter(
        name="sort",
        description="column,direction such as created_at,desc (may repeat)",
        schema_extra={"items": {"type": "string", "pattern": "^(" + "|".join(SORTABLE_COLUMNS) + ")(,(asc|desc))?$"}},
    ),
]
"""``sort`` of a session list, as :func:`parse_sort` accepts it."""
_MAX_BULK = 1000
_MAX_OCC_DIGITS = 18
_UUID = re.compile(UUID_PATTERN)


class SessionModel(msgspec.Struct):
    """A session as seed 000 shows it: ``update_at`` as the seed spells it, and ``updated_at`` (the same instant)."""

    id: uuid.UUID
    user_id: str
    tenant_id: uuid.UUID
    status: SessionStatus
    last_seen_at: Instant
    created_at: Instant
    update_at: Instant
    updated_at: Instant
    created_by: str
    updated_by: str
    occ_lock: Annotated[int, msgspec.Meta(ge=0)]


class SessionEnvelope(msgspec.Struct):
    """One session."""

    data: SessionModel
    message: str
    sent_at: Instant


class SessionListEnvelope(msgspec.Struct):
    """A page of sessions."""

    data: list[SessionModel]
    message: str
    page: SortedPageInfo
    sent_at: Instant


class TerminateOutcome(msgspec.Struct):
    """What ``POST /admin/sessions/terminate`` did with each id given (each id once, in the order given)."""

    terminated: list[uuid.UUID]
    already_inactive: list[uuid.UUID]
    not_found: list[uuid.UUID]


class TerminateOutcomeEnvelope(msgspec.Struct):
    """The outcome of a bulk terminate."""

    data: TerminateOutcome
    message: str
    sent_at: Instant


class ActiveCount(msgspec.Struct):
    """The number of ACTIVE sessions, of every tenant (the limit is global)."""

    active_sessions: Annotated[int, msgspec.Meta(ge=0)]


class ActiveCountEnvelope(msgspec.Struct):
    """The count of active sessions."""

    data: ActiveCount
    message: str
    sent_at: Instant


def session_json(row: SessionRow) -> dict[str, Any]:
    """A session as seed 000 shows it (``update_at`` as the seed spells it, and ``updated_at``)."""
    updated = rfc3339(row.updated_at)
    return {
        "id": str(row.id),
        "user_id": row.user_id,
        "tenant_id": str(row.tenant_id),
        "status": row.status,
        "last_seen_at": rfc3339(row.last_seen_at),
        "created_at": rfc3339(row.created_at),
        "update_at": updated,
        "updated_at": updated,
        "created_by": row.created_by,
        "updated_by": row.updated_by,
        "occ_lock": row.occ_lock,
    }


def parse_uuid(value: str, field: str) -> uuid.UUID:
    """A UUID from a path or query value, or a 400 naming the field."""
    if _UUID.match(value) is None:
        raise validation_error(f"{field} must be a UUID", {"field": field})
    return uuid.UUID(value)


def _expected_occ_lock(query_value: str | None, if_match: str | None) -> int | None:
    raw = query_value if query_value is not None else if_match
    if raw is None:
        return None
    text = raw.strip().strip('"')
    # At most 18 digits: any larger number is no occ_lock (a BIGINT), and must not reach PostgreSQL.
    if not text.isdigit() or len(text) > _MAX_OCC_DIGITS:
        raise validation_error("occ_lock must be a non-negative integer", {"field": "occ_lock"})
    return int(text)


@post(
    "/session",
    tags=["sessions"],
    summary="Create a session",
    status_code=201,
    responses={201: answer(SessionEnvelope, "the new session"), **errors(429)},
)
async def create_session(principal: PrincipalDep, services: ServicesDep) -> Response[dict[str, Any]]:
    """A new ACTIVE session of the caller; 429 past ``max_active_sessions``."""
    row = await services.sessions.create(principal, services.runtime.current.max_active_sessions)
    return envelope(session_json(row), "Created session successfully", status_code=201)


@delete(
    "/session/{session_id:str}", tags=["sessions"], summary="Delete a session", status_code=204, responses=errors(409)
)
async def delete_session(
    session_id: FromPath[str],
    principal: PrincipalDep,
    services: ServicesDep,
    occ_lock: FromQuery[str | None] = None,
    if_match: IfMatch = None,
) -> None:
    """Delete a session (owner or admin of its tenant). ``occ_lock`` / ``If-Match`` make it conditional."""
    await services.sessions.delete(
        principal, parse_uuid(session_id, "session_id"), _expected_occ_lock(occ_lock, if_match)
    )


@post(
    "/session/{session_id:str}/terminate",
    tags=["sessions"],
    summary="Terminate a session",
    status_code=204,
    responses=errors(409),
)
async def terminate_session(
    session_id: FromPath[str],
    principal: PrincipalDep,
    services: ServicesDep,
    occ_lock: FromQuery[str | None] = None,
    if_match: IfMatch = None,
) -> None:
    """Terminate one of the caller's own sessions; its slot frees at once."""
    await services.sessions.terminate_own(
        principal, parse_uuid(session_id, "session_id"), _expected_occ_lock(occ_lock, if_match)
    )


class TerminateManyBody(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``POST /admin/sessions/terminate``."""

    session_ids: Annotated[
        list[Annotated[str, msgspec.Meta(pattern=UUID_PATTERN)]], msgspec.Meta(min_length=1, max_length=_MAX_BULK)
    ]


@post(
    "/admin/sessions/terminate",
    tags=["admin"],
    summary="Terminate sessions (admin)",
    status_code=200,
    responses={200: answer(TerminateOutcomeEnvelope, "which sessions were terminated, already inactive, or unknown")},
    opt={"request_body": TerminateManyBody},
)
async def admin_terminate_sessions(
    admin: PrincipalDep, services: ServicesDep, request: Request[Any, Any, Any]
) -> Response[dict[str, Any]]:
    """Terminate many sessions of the admin's tenant; answers which were terminated, inactive, or unknown."""
    try:
        body = msgspec.json.decode(await request.body(), type=TerminateManyBody)
    except msgspec.ValidationError as exc:
        raise validation_error(f"invalid body: {exc}", {"field": "session_ids"}) from None
    except msgspec.DecodeError:
        raise validation_error("body must be a JSON object", {"field": "session_ids"}) from None
    if not body.session_ids or len(body.session_ids) > _MAX_BULK:
        raise validation_error(f"session_ids must hold 1 to {_MAX_BULK} ids", {"field": "session_ids"})
    outcome = await services.sessions.terminate_many(admin, [uuid.UUID(value) for value in body.session_ids])
    return envelope(outcome, "Terminated sessions successfully")


def parse_sort(values: list[str] | None) -> tuple[tuple[str, Literal["asc", "desc"]], ...]:
    """``sort`` values such as ``created_at,desc`` (default ``created_at,desc``), or a 400 naming ``sort``."""
    if not values:
        return (("created_at", "desc"),)
    parsed: list[tuple[str, Literal["asc", "desc"]]] = []
    for value in values:
        column, _, direction = value.partition(",")
        column, direction = column.strip(), (direction.strip().lower() or "asc")
        if column not in SORTABLE_COLUMNS:
            raise validation_error(f"cannot sort by {column!r}", {"field": "sort", "allowed": list(SORTABLE_COLUMNS)})
        if direction not in ("asc", "desc"):
            raise validation_error("sort direction must be asc or desc", {"field": "sort"})
        parsed.append((column, cast(Literal["asc", "desc"], direction)))
    return tuple(parsed)


def positive_int(value: str | None, field: str, default: int, maximum: int) -> int:
    """A query value in 1..maximum (``default`` when absent), or a 400 naming the field."""
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise validation_error(f"{field} must be an integer from 1 to {maximum}", {"field": field})
    return int(value)


def page_json(
    number: int,
    size: int,
    total: int,
    count: int,
    sort: tuple[tuple[str, Literal["asc", "desc"]], ...] | None = None,
) -> dict[str, Any]:
    """The ``page`` object of a list answer (seed 000's), with ``sort`` when the list is sortable."""
    page: dict[str, Any] = {"number": number, "size": size, "total_records": total, "count": count}
    if sort is not None:
        page["sort"] = [f"{column},{direction}" for column, direction in sort]
    return page


@get(
    "/admin/sessions",
    tags=["admin"],
    summary="List sessions (admin)",
    responses={200: answer(SessionListEnvelope, "a page of sessions")},
)
async def list_sessions(
    admin: PrincipalDep,
    services: ServicesDep,
    tenant_id: FromQuery[str | None] = None,
    status: Annotated[str | None, QueryParameter(schema_extra={"enum": ["ACTIVE", "INACTIVE"]})] = None,
    user_id: FromQuery[str | None] = None,
    page: FromQuery[str | None] = None,
    size: PageSize = None,
    sort: SessionSort = None,
) -> Response[dict[str, Any]]:
    """Sessions of the admin's tenant (another tenant's only for a global admin naming it), paged and sorted."""
    if status is not None and status not in ("ACTIVE", "INACTIVE"):
        raise validation_error("status must be ACTIVE or INACTIVE", {"field": "status"})
    request = ListRequest(
        tenant_id=parse_uuid(tenant_id, "tenant_id") if tenant_id is not None else None,
        status=cast(Literal["ACTIVE", "INACTIVE"] | None, status),
        user_id=user_id,
        sort=parse_sort(sort),
        page=positive_int(page, "page", 1, 10**6),
        size=positive_int(size, "size", 20, _MAX_PAGE_SIZE),
    )
    result = await services.sessions.list(admin, request)
    return envelope(
        [session_json(row) for row in result.rows],
        "Retrieved list sessions successfully",
        page=page_json(request.page, request.size, result.total, len(result.rows), request.sort),
    )


@get(
    "/admin/sessions/status",
    tags=["admin"],
    summary="Count active sessions (admin)",
    responses={200: answer(ActiveCountEnvelope, "the number of ACTIVE sessions")},
)
async def sessions_status(admin: PrincipalDep, services: ServicesDep) -> Response[dict[str, Any]]:
    """The number of ACTIVE sessions (the limit is global, so is the count)."""
    return envelope({"active_sessions": await services.sessions.count_active()}, "Get sessions status successfully")


ROUTES = [
    create_session,
    delete_session,
    terminate_session,
    admin_terminate_sessions,
    list_sessions,
    sessions_status,
]
