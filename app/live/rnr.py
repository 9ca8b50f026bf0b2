"""Record and replay (seed 001): one shared, live replay per tenant, controlled over REST, watched over WebSockets.

A replay is a session of kind ``rnr`` with the range ``[replay_requested_timestamp, replay_end_timestamp]``; it
counts against ``max_active_sessions`` like any session, and a unique index keeps one ACTIVE replay per tenant.
Every user of the tenant may control it (an admin may name another tenant); a replay of another tenant is a 403.

Status words (``status``, with ``display_status`` for people): ``INITIALIZED`` (Ready) until first started,
``PLAYING``, ``PAUSED``, ``COMPLETED`` (played to its end, still current), ``ENDED`` (ended or reset; no longer
current). Starting a COMPLETED replay plays it again from its start; stopping one that is not playing is harmless.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.auth import Principal
from app.domain.replay import check_in_range, check_window, current_window, parse_instant
from app.errors import ReplayInProgressError, SessionInactiveError, forbidden, not_found, validation_error
from app.live import protocol
from app.live.protocol import SeekCommand, SpeedCommand, StartCommand, StopCommand
from app.live.registry import LiveRegistry
from app.services import Services
from app.web import rfc3339
from playback.clock import MAX_SPEED, MIN_SPEED
from playback.errors import AlreadyPlayingError, NotPlayingError, SessionEndedError
from playback.instants import format_timestamp, from_micros, to_micros
from playback.ports import ClockStatus
from store.errors import ConflictError, NotFoundError
from store.sessions import SessionRow

DISPLAY_STATUS = {
    "INITIALIZED": "Ready",
    "PLAYING": "Playing",
    "PAUSED": "Paused",
    "COMPLETED": "Completed",
    "ENDED": "Ended",
}


@dataclass(frozen=True, slots=True)
class InitRequest:
    """A validated ``POST /v1/replay/init`` body."""

    start: datetime
    end: datetime
    tenant_id: uuid.UUID | None


def parse_init(body: dict[str, Any]) -> InitRequest:
    """The init body of seed 001, or a 400 naming the field."""
    start_raw, end_raw = body.get("replay_requested_timestamp"), body.get("replay_end_timestamp")
    for field, value in (("replay_requested_timestamp", start_raw), ("replay_end_timestamp", end_raw)):
        if not isinstance(value, str):
            raise validation_error(f"{field} is required: an RFC3339 instant", {"field": field})
    assert isinstance(start_raw, str)
    assert isinstance(end_raw, str)
    start = parse_instant(start_raw, "replay_requested_timestamp")
    end = parse_instant(end_raw, "replay_end_timestamp")
    if end <= start:
        raise validation_error(
            "replay_end_timestamp must be after replay_requested_timestamp", {"field": "replay_end_timestamp"}
        )
    return InitRequest(start, end, parse_tenant(body))


def parse_tenant(body: dict[str, Any]) -> uuid.UUID | None:
    """The optional ``tenant_id`` of a body, or a 400."""
    raw = body.get("tenant_id")
    if raw is None:
        return None
    try:
        return uuid.UUID(str(raw)) if isinstance(raw, str) else None
    except ValueError:
        pass
    raise validation_error("tenant_id must be a UUID", {"field": "tenant_id"})


def parse_speed(body: dict[str, Any]) -> float:
    """``replay_speed`` of a start body: a number with 0 < speed <= 1000 that the engine can play, or a 400."""
    speed = body.get("replay_speed")
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise validation_error("replay_speed is required: a number", {"field": "replay_speed"})
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise validation_error(
            f"replay_speed must be between {MIN_SPEED:g} and {MAX_SPEED:g}, got {speed:g}",
            {"field": "replay_speed", "minimum": MIN_SPEED, "maximum": MAX_SPEED},
        )
    return float(speed)


def parse_step(body: dict[str, Any]) -> protocol.StepCommand:
    """A step body: ``direction`` (``forward``, the default, or ``back``), ``by`` (``frame``, default, or ``event``)."""
    direction, by = body.get("direction", "forward"), body.get("by", "frame")
    if direction not in ("forward", "back"):
        raise validation_error("direction must be forward or back", {"field": "direction"})
    if by not in ("frame", "event"):
        raise validation_error("by must be frame or event", {"field": "by"})
    return protocol.StepCommand(forward=direction == "forward", by_event=by == "event")


def parse_loop(body: dict[str, Any]) -> protocol.LoopCommand:
    """A loop body: ``from`` and ``to`` (RFC3339), or neither to clear the loop."""
    low, high = body.get("from"), body.get("to")
    if low is None and high is None:
        return protocol.LoopCommand(None)
    for field, value in (("from", low), ("to", high)):
        if not isinstance(value, str):
            raise validation_error(f"{field} is required with the other: an RFC3339 instant", {"field": field})
    assert isinstance(low, str)
    assert isinstance(high, str)
    return protocol.LoopCommand((to_micros(parse_instant(low, "from")), to_micros(parse_instant(high, "to"))))


def parse_until(body: dict[str, Any]) -> protocol.UntilCommand:
    """An until body: ``at`` (RFC3339), or nothing to forget the pending until."""
    at = body.get("at")
    if at is None:
        return protocol.UntilCommand(None)
    if not isinstance(at, str):
        raise validation_error("at must be an RFC3339 instant", {"field": "at"})
    return protocol.UntilCommand(to_micros(parse_instant(at, "at")))


class RecordAndReplay:
    """The operations of seed 001 over the sessions and the replica's playback."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._hub: LiveRegistry = services.playback
        self._store = services.playback_store
        self._sessions = services.sessions

    async def init(self, principal: Principal, request: InitRequest) -> dict[str, Any]:
        """A new current replay of the tenant; 409 REPLAY_IN_PROGRESS when it has one."""
        tenant_id = self._tenant(principal, request.tenant_id)
        services = self._services
        window = await current_window(services.events, services.runtime, tenant_id)
        check_window(request.start, request.end, window)
        check_in_range(request.start, window, "replay_requested_timestamp")
        check_in_range(request.end, window, "replay_end_timestamp")
        try:
            row = await services.sessions.create(
                principal,
                services.runtime.current.max_active_sessions,
                "rnr",
                tenant_id=tenant_id,
                range_start=request.start,
                range_end=request.end,
            )
        except ConflictError:
            raise ReplayInProgressError("the tenant already has a live replay; end it (or reset it) first") from None
        await self._hub.set_rnr_status(row.id, "INITIALIZED")
        return self._json(row, "INITIALIZED", None)

    async def start(self, principal: Principal, replay_id: uuid.UUID, speed: float) -> dict[str, Any]:
        """Play at ``speed`` (a playing replay changes speed; a completed one plays again from its start)."""
        row = await self._live_row(principal, replay_id)
        actor = principal.user_id
        try:
            status = await self._hub.control_row(row, actor, StartCommand(speed))
        except AlreadyPlayingError:
            status = await self._hub.control_row(row, actor, SpeedCommand(speed))
        except SessionEndedError:
            assert row.range_start is not None
            await self._hub.control_row(row, actor, SeekCommand(to_micros(row.range_start)))
            status = await self._hub.control_row(row, actor, StartCommand(speed))
        return self._json(row, None, status)

    async def stop(self, principal: Principal, replay_id: uuid.UUID) -> dict[str, Any]:
        """Pause; a replay that is not playing stays as it is."""
        row = await self._live_row(principal, replay_id)
        try:
            status = await self._hub.control_row(row, principal.user_id, StopCommand())
        except NotPlayingError:
            return self._json(row, None, await self._hub.clock(row.id))
        return self._json(row, None, status)

    async def transport(self, principal: Principal, replay_id: uuid.UUID, command: protocol.Command) -> dict[str, Any]:
        """Step, loop or until (:func:`parse_step`, :func:`parse_loop`, :func:`parse_until`), as on the WebSocket."""
        row = await self._live_row(principal, replay_id)
        return self._json(row, None, await self._hub.control_row(row, principal.user_id, command))

    async def end(self, principal: Principal, replay_id: uuid.UUID, tenant_id: uuid.UUID | None) -> dict[str, Any]:
        """End the replay: no longer current, its viewers told and closed; ending it again is harmless."""
        row = await self._row(principal, replay_id)
        if tenant_id is not None and tenant_id != row.tenant_id:
            raise forbidden("tenant_id does not match the replay's tenant")
        if row.status == "ACTIVE":
            await self._finish(row, principal.user_id, "ended")
        return self._json(await self._sessions.row(row.id), "ENDED", None)

    async def reset(self, admin: Principal, tenant_id: uuid.UUID | None) -> dict[str, Any]:
        """Force-end the tenant's current replay, wherever it plays (admin)."""
        tenant = self._tenant(admin, tenant_id)
        row = await self._store.current_rnr(tenant)
        if row is None:
            raise not_found("the tenant has no current replay")
        await self._store.log_activity(row.id, row.tenant_id, admin.user_id, "reset")
        await self._finish(row, admin.user_id, "reset")
        return self._json(await self._sessions.row(row.id), "ENDED", None)

    async def current(self, principal: Principal) -> dict[str, Any]:
        """The tenant's current replay, or 404."""
        row = await self._store.current_rnr(principal.tenant_id)
        if row is None:
            raise not_found("the tenant has no current replay; start one with POST /v1/replay/init")
        return self._json(row, None, await self._hub.clock(row.id))

    # Internals.

    async def _finish(self, row: SessionRow, actor: str, reason: str) -> None:
        await self._hub.set_rnr_status(row.id, "ENDED")
        # Terminating tells every replica's hub, which closes the viewers and stops the runner.
        await self._sessions.terminate(row.id, actor=actor, reason=reason)

    def _tenant(self, principal: Principal, tenant_id: uuid.UUID | None) -> uuid.UUID:
        if tenant_id is None or tenant_id == principal.tenant_id:
            return principal.tenant_id
        if not principal.is_global_admin:
            raise forbidden("tenant_id must be your own tenant (another tenant needs the global admin role)")
        return tenant_id

    async def _row(self, principal: Principal, replay_id: uuid.UUID) -> SessionRow:
        try:
            row = await self._sessions.row(replay_id)
        except NotFoundError:
            raise not_found(f"replay {replay_id} not found") from None
        if row.kind != "rnr":
            raise not_found(f"replay {replay_id} not found")
        if row.tenant_id != principal.tenant_id and not principal.is_global_admin:
            # Another tenant's replay does not exist for the caller: its id cannot be probed.
            raise not_found(f"replay {replay_id} not found")
        return row

    async def _live_row(self, principal: Principal, replay_id: uuid.UUID) -> SessionRow:
        row = await self._row(principal, replay_id)
        if row.status != "ACTIVE":
            raise SessionInactiveError(f"replay {replay_id} has ended", action="init_a_new_replay")
        return row

    def _json(self, row: SessionRow, status_word: str | None, clock: ClockStatus | None) -> dict[str, Any]:
        position = row.playback_position
        speed = row.playback_speed
        word = status_word or row.rnr_status or "INITIALIZED"
        if row.status != "ACTIVE":
            word = "ENDED"
        elif clock is not None and status_word is None:
            position, speed = from_micros(clock.position), clock.speed
            if clock.state == "playing":
                word = "PLAYING"
            elif clock.state == "ended":
                word = "COMPLETED"
            elif word in ("PLAYING", "COMPLETED"):
                word = "PAUSED"
        assert row.range_start is not None
        assert row.range_end is not None
        transport: dict[str, Any] = {}
        if clock is not None and clock.loop is not None:
            transport["replay_loop"] = {"from": format_timestamp(clock.loop[0]), "to": format_timestamp(clock.loop[1])}
        if clock is not None and clock.until is not None:
            transport["replay_until"] = format_timestamp(clock.until)
        return {
            "id": str(row.id),
            "tenant_id": str(row.tenant_id),
            "status": word,
            "display_status": DISPLAY_STATUS[word],
            "replay_start_timestamp": rfc3339(row.range_start),
            "replay_end_timestamp": rfc3339(row.range_end),
            "replay_last_timestamp": rfc3339(position or row.range_start),
            "replay_speed": speed,
            **transport,
        }
