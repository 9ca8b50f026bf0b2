"""Record and replay (seed 001) under ``/v1/replay``: init, start, stop, end, reset, and the current replay."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from app.auth import Principal
from app.errors import validation_error
from app.live.protocol import Command
from app.live.rnr import (
    RecordAndReplay,
    parse_init,
    parse_loop,
    parse_speed,
    parse_step,
    parse_tenant,
    parse_until,
)
from app.openapi_docs import Instant, answer, errors
from app.routes.sessions import parse_uuid
from app.services import PrincipalDep, Services, ServicesDep
from app.web import envelope
from playback.clock import MAX_SPEED, MIN_SPEED


class InitBody(msgspec.Struct):
    """The body of ``POST /v1/replay/init`` (read by :func:`parse_init`; this struct documents it)."""

    replay_requested_timestamp: Instant
    replay_end_timestamp: Instant
    tenant_id: uuid.UUID | None = None


class StartBody(msgspec.Struct):
    """The body of ``PUT /v1/replay/{id}/start`` (read by :func:`parse_speed`)."""

    replay_speed: Annotated[float, msgspec.Meta(ge=MIN_SPEED, le=MAX_SPEED)]


class TenantBody(msgspec.Struct):
    """The optional body of ``end`` and ``reset``: the tenant of the replay (read by :func:`parse_tenant`)."""

    tenant_id: uuid.UUID | None = None


class StepBody(msgspec.Struct):
    """The optional body of ``PUT /v1/replay/{id}/step`` (read by :func:`parse_step`)."""

    direction: Literal["forward", "back"] = "forward"
    by: Literal["frame", "event"] = "frame"


class LoopBody(msgspec.Struct, rename={"from_": "from"}):
    """The optional body of ``PUT /v1/replay/{id}/loop`` (read by :func:`parse_loop`): both instants, or neither."""

    from_: Instant | None = None
    to: Instant | None = None


class UntilBody(msgspec.Struct):
    """The optional body of ``PUT /v1/replay/{id}/until`` (read by :func:`parse_until`)."""

    at: Instant | None = None


class ReplayLoop(msgspec.Struct, rename={"from_": "from"}):
    """The stretch a replay loops over."""

    from_: Instant
    to: Instant


class ReplayModel(msgspec.Struct):
    """A replay of seed 001: its status word (``display_status`` for people), range, position and speed.

    ``replay_loop`` and ``replay_until`` are there only while set on a live replay.
    """

    id: uuid.UUID
    tenant_id: uuid.UUID
    status: Literal["INITIALIZED", "PLAYING", "PAUSED", "COMPLETED", "ENDED"]
    display_status: Literal["Ready", "Playing", "Paused", "Completed", "Ended"]
    replay_start_timestamp: Instant
    replay_end_timestamp: Instant
    replay_last_timestamp: Instant
    replay_speed: Annotated[float, msgspec.Meta(ge=MIN_SPEED, le=MAX_SPEED)]
    replay_loop: ReplayLoop | msgspec.UnsetType = msgspec.UNSET
    replay_until: Instant | msgspec.UnsetType = msgspec.UNSET


class ReplayEnvelope(msgspec.Struct):
    """One replay."""

    data: ReplayModel
    message: str
    sent_at: Instant


def _replay_answers(description: str, status: int = 200) -> dict[int, ResponseSpec]:
    """The replay as a command's answer, and its errors: 404 no such replay, 409 ended or in progress."""
    return {status: answer(ReplayEnvelope, description), **errors(404, 409)}


async def _body(request: Request[Any, Any, Any], *, required: bool) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise validation_error("a JSON object body is required")
        return {}
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise validation_error("body must be a JSON object") from None
    if not isinstance(body, dict):
        raise validation_error("body must be a JSON object")
    return body


@post(
    "/v1/replay/init",
    tags=["record and replay"],
    summary="Initialise the tenant's replay",
    status_code=201,
    responses=_replay_answers("the new replay", 201),
    opt={"request_body": InitBody},
)
async def init_replay(
    principal: PrincipalDep, services: ServicesDep, request: Request[Any, Any, Any]
) -> Response[dict[str, Any]]:
    """A new current replay of ``[replay_requested_timestamp, replay_end_timestamp]``; 409 when one is live."""
    body = parse_init(await _body(request, required=True))
    replay = await RecordAndReplay(services).init(principal, body)
    return envelope(replay, "Initialized replay successfully", status_code=201)


@put(
    "/v1/replay/{replay_id:str}/start",
    tags=["record and replay"],
    summary="Start (or change the speed of) a replay",
    responses=_replay_answers("the replay, playing at the speed given"),
    opt={"request_body": StartBody},
)
async def start_replay(
    replay_id: FromPath[str], principal: PrincipalDep, services: ServicesDep, request: Request[Any, Any, Any]
) -> Response[dict[str, Any]]:
    """Play at ``replay_speed`` (0.1 to 1000)."""
    speed = parse_speed(await _body(request, required=True))
    replay = await RecordAndReplay(services).start(principal, parse_uuid(replay_id, "replay_id"), speed)
    return envelope(replay, "Started replay successfully")


@put(
    "/v1/replay/{replay_id:str}/stop",
    tags=["record and replay"],
    summary="Pause a replay",
    responses=_replay_answers("the replay, paused (or as it was when not playing)"),
)
async def stop_replay(
    replay_id: FromPath[str], principal: PrincipalDep, services: ServicesDep
) -> Response[dict[str, Any]]:
    """Pause the replay where it is."""
    replay = await RecordAndReplay(services).stop(principal, parse_uuid(replay_id, "replay_id"))
    return envelope(replay, "Stopped replay successfully")


@put(
    "/v1/replay/{replay_id:str}/step",
    tags=["record and replay"],
    summary="Pause and step a replay",
    responses=_replay_answers("the replay, paused at its new position"),
    opt={"request_body": StepBody, "request_body_required": False},
)
async def step_replay(
    replay_id: FromPath[str], principal: PrincipalDep, services: ServicesDep, request: Request[Any, Any, Any]
) -> Response[dict[str, Any]]:
    """Pause and move one frame interval (``by`` ``frame``) or to the next or previous event (``by`` ``event``)."""
    command = parse_step(await _body(request, required=False))
    return await _transport(services, principal, replay_id, command, "Stepped replay successfully")


@put(
    "/v1/replay/{replay_id:str}/loop",
    tags=["record and replay"],
    summary="Loop a replay over a stretch",
    responses=_replay_answers("the replay with its loop (none when cleared)"),
    opt={"request_body": LoopBody, "request_body_required": False},
)
async def loop_replay(
    replay_id: FromPath[str], principal: PrincipalDep, services: ServicesDep, request: Request[Any, Any, Any]
) -> Response[dict[str, Any]]:
    """Loop over ``[from, to]``; an empty body clears the loop."""
    command = parse_loop(await _body(request, required=False))
    return await _transport(services, principal, replay_id, command, "Set the replay's loop successfully")


@put(
    "/v1/replay/{replay_id:str}/until",
    tags=["record and replay"],
    summary="Pause a replay at an instant",
    responses=_replay_answers("the replay with its pending pause (none when forgotten)"),
    opt={"request_body": UntilBody, "request_body_required": False},
)
async def until_replay(
    replay_id: FromPath[str], principal: PrincipalDep, services: ServicesDep, request: Request[Any, Any, Any]
) -> Response[dict[str, Any]]:
    """Pause exactly at ``at`` when playback reaches it; an empty body forgets a pending until."""
    command = parse_until(await _body(request, required=False))
    return await _transport(services, principal, replay_id, command, "Set the replay's pause successfully")


async def _transport(
    services: Services, principal: Principal, replay_id: str, command: Command, message: str
) -> Response[dict[str, Any]]:
    replay = await RecordAndReplay(services).transport(principal, parse_uuid(replay_id, "replay_id"), command)
    return envelope(replay, message)


@put(
    "/v1/replay/{replay_id:str}/end",
    tags=["record and replay"],
    summary="End a replay",
    responses=_replay_answers("the replay, ended"),
    opt={"request_body": TenantBody, "request_body_required": False},
)
async def end_replay(
    replay_id: FromPath[str], principal: PrincipalDep, services: ServicesDep, request: Request[Any, Any, Any]
) -> Response[dict[str, Any]]:
    """End the replay; its viewers are told and closed. ``tenant_id`` in the body must be the replay's."""
    tenant_id = parse_tenant(await _body(request, required=False))
    replay = await RecordAndReplay(services).end(principal, parse_uuid(replay_id, "replay_id"), tenant_id)
    return envelope(replay, "Ended replay successfully")


@post(
    "/v1/replay/reset",
    tags=["record and replay"],
    summary="Force-end a stuck replay (admin)",
    status_code=200,
    responses=_replay_answers("the replay, ended"),
    opt={"request_body": TenantBody, "request_body_required": False},
)
async def reset_replay(
    admin: PrincipalDep, services: ServicesDep, request: Request[Any, Any, Any]
) -> Response[dict[str, Any]]:
    """Force-end the current replay of the admin's tenant (or of ``tenant_id``), wherever it plays."""
    tenant_id = parse_tenant(await _body(request, required=False))
    replay = await RecordAndReplay(services).reset(admin, tenant_id)
    return envelope(replay, "Reset replay successfully")


@get(
    "/v1/replay/current-session",
    tags=["record and replay"],
    summary="The tenant's current replay",
    responses={200: answer(ReplayEnvelope, "the current replay"), **errors(404)},
)
async def current_replay(principal: PrincipalDep, services: ServicesDep) -> Response[dict[str, Any]]:
    """The current replay of the caller's tenant, or 404."""
    replay = await RecordAndReplay(services).current(principal)
    return envelope(replay, "Get current session successfully")


ROUTES = [
    init_replay,
    start_replay,
    stop_replay,
    end_replay,
    reset_replay,
    current_replay,
    step_replay,
    loop_replay,
    until_replay,
]
