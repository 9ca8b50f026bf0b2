"""The operator API of users and session histories (SPEC 7, after seed 002).

Erase a user, list a user's sessions, read a session's activity log.

A user is a user of a tenant: the admin's own tenant, or the one named by ``tenant_id`` for a global admin (another
admin naming another tenant gets a 403, as ``GET /admin/sessions`` answers). A session of another tenant does not
exist for an admin who is not global (404).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Response, delete, get
from litestar.params import FromPath, PathParameter, QueryParameter

from app.auth import Principal
from app.domain.replay import parse_instant
from app.errors import forbidden, not_found, validation_error
from app.openapi_docs import answer, errors, page_size_parameter
from app.routes.operator_schemas import (
    ActivityListEnvelope,
    JobEnvelope,
    LiveSessionListEnvelope,
    UserSessionListEnvelope,
)
from app.routes.operators import Page, TenantFilter, job_json
from app.routes.sessions import SessionSort, page_json, parse_sort, parse_uuid, positive_int, session_json
from app.services import PrincipalDep, ServicesDep
from app.web import envelope, rfc3339
from store.activity import ACTIONS, ActivityEntry, ActivityLog, ActivityQuery
from store.sessions import SessionQuery, SessionRepository, SessionRow

_MAX_USER_ID = 256
_MAX_SIZE = 200
_ACTION = "|".join(ACTIONS)
UserId = Annotated[
    str,
    PathParameter(
        title="user_id",
        description="the user's id (the token's subject), 1 to 256 characters",
        schema_extra={"minLength": 1, "maxLength": _MAX_USER_ID, "pattern": r"\S"},
    ),
]

Size = Annotated[
    str | None,
    page_size_parameter("size", "items per page, 1 to 200 (default 20)", _MAX_SIZE),
]
Start = Annotated[
    str | None, QueryParameter(name="start", description="from this instant on (RFC3339 with a zone), inclusive")
]
End = Annotated[str | None, QueryParameter(name="end", description="before this instant (RFC3339 with a zone)")]
Types = Annotated[
    str | None,
    QueryParameter(
        name="type",
        description="comma list of entry types: " + ", ".join(ACTIONS),
        schema_extra={"pattern": rf"^[\s,]*({_ACTION})\s*(,[\s,]*({_ACTION})\s*)*[\s,]*$"},
    ),
]


def _tenant(admin: Principal, raw: str | None) -> uuid.UUID:
    if raw is None:
        return admin.tenant_id
    tenant_id = parse_uuid(raw, "tenant_id")
    if tenant_id != admin.tenant_id and not admin.is_global_admin:
        raise forbidden("another tenant's users need the global admin role")
    return tenant_id


def _user(raw: str) -> str:
    if not raw.strip() or len(raw) > _MAX_USER_ID:
        raise validation_error(f"user_id must be 1 to {_MAX_USER_ID} characters", {"field": "user_id"})
    return raw


def _window(start: str | None, end: str | None) -> tuple[Any, Any]:
    first = None if start is None else parse_instant(start, "start")
    last = None if end is None else parse_instant(end, "end")
    if first is not None and last is not None and first > last:
        raise validation_error("start must not be after end", {"field": "start"})
    return first, last


@delete(
    "/admin/users/{user_id:str}",
    tags=["operators"],
    summary="Erase a user's data (admin)",
    status_code=202,
    responses={
        202: answer(JobEnvelope, "the erasure job (the unfinished one when the user's erasure was asked already)"),
        **errors(400, 401, 403, 503),
    },
)
async def erase_user(
    user_id: UserId, admin: PrincipalDep, services: ServicesDep, tenant_id: TenantFilter = None
) -> Response[dict[str, Any]]:
    """Schedule the erasure of the user's sessions, activity and attributions; its job (see docs/decisions.md)."""
    scheduled = await services.erasures.schedule(admin, _tenant(admin, tenant_id), _user(user_id))
    message = "Scheduled the user's erasure" if scheduled.created else "The user's erasure is under way"
    return envelope(job_json(scheduled.job), message, status_code=202)


def _user_session_json(row: SessionRow) -> dict[str, Any]:
    body = session_json(row)
    body |= {
        "kind": row.kind,
        "ended_reason": row.ended_reason,
        "playback_state": row.playback_state,
        "playback_speed": row.playback_speed,
        "playback_position": None if row.playback_position is None else rfc3339(row.playback_position),
    }
    return body


@get(
    "/admin/users/{user_id:str}/sessions",
    tags=["operators"],
    summary="List a user's sessions (admin)",
    responses={200: answer(UserSessionListEnvelope, "a page of the user's sessions"), **errors(400, 401, 403, 503)},
)
async def user_sessions(
    user_id: UserId,
    admin: PrincipalDep,
    services: ServicesDep,
    start: Start = None,
    end: End = None,
    page: Page = None,
    size: Size = None,
    sort: SessionSort = None,
    tenant_id: TenantFilter = None,
) -> Response[dict[str, Any]]:
    """The user's sessions created in ``[start, end)``, paged and sorted (default ``created_at,desc``)."""
    created_from, created_until = _window(start, end)
    query = SessionQuery(
        tenant_id=_tenant(admin, tenant_id),
        user_id=_user(user_id),
        created_from=created_from,
        created_until=created_until,
        sort=parse_sort(sort),
        page=positive_int(page, "page", 1, 10**6),
        size=positive_int(size, "size", 20, _MAX_SIZE),
    )
    result = await SessionRepository(services.db).list(query)
    return envelope(
        [_user_session_json(row) for row in result.rows],
        "Retrieved the user's sessions successfully",
        page=page_json(query.page, query.size, result.total, len(result.rows), query.sort),
    )


def _entry_json(entry: ActivityEntry) -> dict[str, Any]:
    details = entry.details or {}
    return {
        "id": entry.id,
        "type": entry.action,
        "session_id": str(entry.session_id),
        "actor": entry.actor_id,
        "at": rfc3339(entry.at),
        "replica": details.get("replica"),
        "details": details,
    }


def _types(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    types = tuple(dict.fromkeys(item.strip() for item in raw.split(",") if item.strip()))
    if not types or not set(types) <= set(ACTIONS):
        raise validation_error(
            "type must be a comma list of " + ", ".join(ACTIONS), {"field": "type", "allowed": list(ACTIONS)}
        )
    return types


@get(
    "/admin/sessions/{session_id:str}/events",
    tags=["operators"],
    summary="A session's activity log (admin)",
    responses={
        200: answer(ActivityListEnvelope, "a page of the session's activity log, oldest first"),
        **errors(400, 401, 403, 404, 503),
    },
)
async def session_events(
    session_id: FromPath[str],
    admin: PrincipalDep,
    services: ServicesDep,
    type_: Types = None,
    start: Start = None,
    end: End = None,
    page: Page = None,
    size: Size = None,
) -> Response[dict[str, Any]]:
    """Who did what to the session and when: created, viewers attached and left, commands, termination."""
    first, last = _window(start, end)
    query = ActivityQuery(
        session_id=parse_uuid(session_id, "session_id"),
        tenant_id=None if admin.is_global_admin else admin.tenant_id,
        actions=_types(type_),
        start=first,
        end=last,
        page=positive_int(page, "page", 1, 10**6),
        size=positive_int(size, "size", 50, _MAX_SIZE),
    )
    result = await ActivityLog(services.db).page(query)
    if not result.known:
        raise not_found(f"session {query.session_id} not found")
    return envelope(
        [_entry_json(entry) for entry in result.items],
        "Retrieved the session's activity successfully",
        page=page_json(query.page, query.size, result.total, len(result.items)),
    )


@get(
    "/admin/sessions/live",
    tags=["operators"],
    summary="Sessions playing or watched now, on every replica (admin)",
    responses={
        200: answer(LiveSessionListEnvelope, "every session with its clock running or a viewer attached"),
        **errors(400, 401, 403, 503),
    },
)
async def live_sessions(
    admin: PrincipalDep, services: ServicesDep, tenant_id: TenantFilter = None
) -> Response[dict[str, Any]]:
    """Live sessions of the admin's tenant (a global admin: every tenant's, or the one named), with their viewers.

    An admin may attach to any of them over the WebSocket; a session of another user is watched read-only.
    """
    everyone = admin.is_global_admin and tenant_id is None
    scope = None if everyone else str(_tenant(admin, tenant_id))
    return envelope(await services.presence.list(scope), "Retrieved live sessions successfully")


ROUTES = [erase_user, user_sessions, session_events, live_sessions]
"""The operator routes of users and session histories."""
