"""Replay sessions: admission under the global limit, ownership rules, liveness and idle expiry.

Admission: PostgreSQL holds the truth (the session rows); Redis decides, in one atomic Lua step, whether a new
session fits under ``max_active_sessions``, over a sorted set of the ACTIVE session ids. The row is committed
*before* the Redis step, so a rebuild of the set from PostgreSQL (after Redis lost it: flushed, restarted, failed
over) always counts every session that may be admitted; a session the step refuses is discarded again. A rebuild
loads ids as placeholders: a session still waiting for its step then has to fit beside all the others, so a rebuild
in the middle of a burst may refuse a few sessions that would have fitted, but never admits one too many.

Liveness: API calls record "seen now" in memory; the replica writes them to PostgreSQL in one batch every few
seconds, so frequent calls cost no database write each. An attached WebSocket viewer calls the same ``touch``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, Literal, TypeVar

from redis.exceptions import RedisError

from app.auth import Principal
from app.coordination.admission import AdmissionControl
from app.coordination.scripts import AnyPipeline
from app.errors import (
    InvalidInputError,
    ResourceNotFoundError,
    SessionCreationError,
    SessionInactiveError,
    SessionLimitError,
    StaleVersionError,
    forbidden,
    not_found,
)
from app.web import utc_now
from store.errors import ConflictError, NotFoundError, StoreUnavailableError
from store.sessions import NewSession, SessionKind, SessionPage, SessionQuery, SessionRepository, SessionRow

_log = logging.getLogger("msr.sessions")
_MAX_CREATE_BATCH = 256
"""Most creates sharing one statement and one admission script (bounds the statement and the script's time)."""

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")
Access = Literal["control", "view"]
"""What a viewer of a session's playback may do: control its clock, or only watch it."""
TerminatedListener = Callable[[list[uuid.UUID], AnyPipeline], Awaitable[None]]
"""Told the ids of sessions that stopped being ACTIVE, with a pipeline for its Redis steps, which the caller sends
once all listeners have queued theirs (see :meth:`SessionService.on_terminated`)."""


def access_of(principal: Principal, row: SessionRow) -> Access:
    """What the caller may do with a session's playback, or 404 / 403.

    A session of ``POST /session``: its owner controls it; an admin of its tenant (or a global admin) watches it
    read-only. The record-and-replay session of a tenant is shared: every user of the tenant controls it, as
    the REST API lets them. Sessions of other tenants do not exist for the caller (404) unless a global admin.
    """
    same_tenant = row.tenant_id == principal.tenant_id
    if not same_tenant and not principal.is_global_admin:
        raise not_found(f"session {row.id} not found")
    if row.kind == "rnr":
        return "control"
    if same_tenant and row.user_id == principal.user_id:
        return "control"
    if principal.is_admin:
        return "view"
    raise forbidden("this session belongs to another user")


class Coalescer(Generic[Item, Outcome]):
    """Runs concurrent calls in batches: while one batch is under way, calls queue, and the next batch takes them all.

    Idle, a call runs at once (a batch of one); under load, one round trip serves many requests, which is what lets a
    replica create sessions faster than one statement and one script per request would. ``run`` answers one
    outcome per item, in order, or raises for the whole batch. A caller that goes away while its batch runs gets
    nothing: its outcome goes to ``abandoned`` (to undo it).
    """

    def __init__(
        self,
        run: Callable[[list[Item]], Awaitable[list[Outcome]]],
        abandoned: Callable[[list[Outcome]], Awaitable[None]],
        *,
        max_batch: int,
    ) -> None:
        self._run = run
        self._abandoned = abandoned
        self._max_batch = max_batch
        self._queued: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Outcome:
        """The outcome of ``item``, run in the next batch."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queued.append((item, future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name="msr:coalesced-batches")
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[Item, asyncio.Future[Outcome]]] = []
        try:
            while self._queued:
                batch, self._queued = self._queued[: self._max_batch], self._queued[self._max_batch :]
                try:
                    outcomes = await self._run([item for item, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                abandoned = []
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        abandoned.append(outcome)
                    else:
                        future.set_result(outcome)
                if abandoned:
                    await self._abandoned(abandoned)
        finally:
            # Cancelled (or failed unexpectedly): nobody may be left waiting.
            for _, future in batch + self._queued:
                if not future.done():
                    future.set_exception(_creation_failed("the server is shutting down"))
            self._queued = []
            self._drainer = None

    async def close(self) -> None:
        """Wait until the queued batches are done."""
        if self._drainer is not None:
            await asyncio.shield(self._drainer)


class SessionLiveness:
    """Last-seen instants of sessions, written to PostgreSQL in batches."""

    def __init__(self, repository: SessionRepository) -> None:
        self._repository = repository
        self._pending: dict[uuid.UUID, datetime] = {}

    def touch(self, session_id: uuid.UUID) -> None:
        """The session was used now (an API call, or an attached viewer)."""
        self._pending[session_id] = utc_now()

    async def flush(self) -> None:
        """Write the pending last-seen instants (called periodically and before idle expiry)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        try:
            await self._repository.touch(pending)
        except StoreUnavailableError:
            for session_id, seen in pending.items():
                self._pending.setdefault(session_id, seen)
            raise


@dataclass(frozen=True, slots=True)
class ListRequest:
    """A validated ``GET /admin/sessions`` request."""

    tenant_id: uuid.UUID | None
    status: Literal["ACTIVE", "INACTIVE"] | None
    user_id: str | None
    sort: tuple[tuple[str, Literal["asc", "desc"]], ...]
    page: int
    size: int


class SessionService:
    """What the session routes do, with the ownership rules of SPEC sections 7 and 9.

    Rules: a user uses and controls only their own sessions; another user's session of the same tenant is a 403.
    An admin controls the sessions of their own tenant. Another tenant's sessions exist only for a *global* admin
    (admin plus role ``MSR_GLOBAL_ADMIN_ROLE``), and are listed only when the request names that ``tenant_id``;
    for everybody else they answer 404, so ids of other tenants' sessions cannot be probed.
    ``POST /session/{id}/terminate`` is for the owner alone (admins use the admin endpoint).
    """

    def __init__(
        self,
        repository: SessionRepository,
        admission: AdmissionControl,
        liveness: SessionLiveness,
        idle_timeout_s: float,
    ) -> None:
        self._repository = repository
        self._admission = admission
        self.liveness = liveness
        self._idle_timeout = timedelta(seconds=idle_timeout_s)
        self._terminated_listeners: list[TerminatedListener] = []
        self._creates: Coalescer[tuple[NewSession, int], SessionRow | SessionLimitError] = Coalescer(
            self._create_many, self._abandoned, max_batch=_MAX_CREATE_BATCH
        )

    def on_terminated(self, listener: TerminatedListener) -> None:
        """Call ``listener`` with the ids of sessions that stopped being ACTIVE here (terminated, deleted, idle)."""
        self._terminated_listeners.append(listener)

    async def _ended(self, session_ids: list[uuid.UUID]) -> None:
        """Sessions stopped being ACTIVE: free their slots and tell the listeners, with one Redis round trip."""
        # As a context manager, so that the pipeline's connection goes back to the pool when Redis fails.
        async with self._admission.pipeline() as pipe:
            self._admission.queue_release(pipe, session_ids)
            for listener in self._terminated_listeners:
                try:
                    await listener(session_ids, pipe)
                except Exception:
                    # The session is INACTIVE already; its viewers are closed by their replicas' checks instead.
                    _log.exception("a terminated-session listener failed")
            try:
                await pipe.execute()
            except (RedisError, OSError):
                # Reconciliation frees the slots once Redis is back; other replicas close their viewers at their
                # next check, and a lease left behind expires.
                _log.warning("could not free the slots of (or announce) %d ended sessions", len(session_ids))

    async def create(
        self,
        principal: Principal,
        limit: int,
        kind: SessionKind = "msr",
        *,
        tenant_id: uuid.UUID | None = None,
        range_start: datetime | None = None,
        range_end: datetime | None = None,
    ) -> SessionRow:
        """A new ACTIVE session of the caller (in ``tenant_id``, default the caller's), if it fits under the limit.

        Concurrent creates share their round trips (see :class:`Coalescer`). ConflictError (from the store) when
        ``kind`` is ``rnr`` and the tenant already has a live one: such a create runs alone, so its conflict fails
        no other.
        """
        new = NewSession(
            uuid.uuid4(), kind, tenant_id or principal.tenant_id, principal.user_id, range_start, range_end
        )
        if kind == "rnr":
            (outcome,) = await self._create_many([(new, limit)])
        else:
            outcome = await self._creates.submit((new, limit))
        if isinstance(outcome, SessionLimitError):
            raise outcome
        return outcome

    async def _create_many(self, batch: list[tuple[NewSession, int]]) -> list[SessionRow | SessionLimitError]:
        """Store the sessions (one statement), then admit them in order under their limits (one Redis script)."""
        try:
            rows = await self._repository.create_many([new for new, _ in batch])
        except StoreUnavailableError as exc:
            raise _creation_failed("the database is unavailable") from exc
        try:
            admitted = await self._admission.admit_many([(new.id, limit) for new, limit in batch])
        except (RedisError, OSError, StoreUnavailableError) as exc:
            await self._discard_quietly([row.id for row in rows])
            raise _creation_failed("the coordination service is unavailable") from exc
        refused = [row.id for row, fits in zip(rows, admitted, strict=True) if not fits]
        if refused:
            await self._discard_quietly(refused)
        return [
            row if fits else _limit_reached(limit) for row, fits, (_, limit) in zip(rows, admitted, batch, strict=True)
        ]

    async def _abandoned(self, outcomes: list[SessionRow | SessionLimitError]) -> None:
        """Creates whose caller went away (a cancelled request) leave nothing behind: no row, no slot."""
        ids = [outcome.id for outcome in outcomes if isinstance(outcome, SessionRow)]
        if ids:
            await self._discard_quietly(ids)
            for session_id in ids:
                await self._release_quietly(session_id)

    async def close(self) -> None:
        """Wait for the creates under way (at shutdown, before the pools close)."""
        await self._creates.close()

    async def _discard_quietly(self, session_ids: list[uuid.UUID]) -> None:
        try:
            await self._repository.discard(session_ids)
        except StoreUnavailableError:
            # The rows stay ACTIVE without a slot; idle expiry ends them, and a rebuild counts them meanwhile.
            _log.warning("could not discard %d unadmitted sessions", len(session_ids))

    async def row(self, session_id: uuid.UUID) -> SessionRow:
        """The session as stored, whoever asks (the store's NotFoundError when unknown)."""
        return await self._repository.get(session_id)

    async def _find(self, principal: Principal, session_id: uuid.UUID) -> SessionRow:
        """The session if it is in the caller's tenant (or the caller is a global admin), else 404."""
        try:
            row = await self._repository.get(session_id)
        except NotFoundError:
            raise not_found(f"session {session_id} not found") from None
        if row.tenant_id != principal.tenant_id and not principal.is_global_admin:
            raise not_found(f"session {session_id} not found")
        return row

    async def controlled(self, principal: Principal, session_id: uuid.UUID) -> SessionRow:
        """The session if the caller may use and control it: its owner, an admin of its tenant, a global admin."""
        row = await self._find(principal, session_id)
        is_owner = row.user_id == principal.user_id and row.tenant_id == principal.tenant_id
        if not (is_owner or principal.is_global_admin or (principal.is_admin and row.tenant_id == principal.tenant_id)):
            raise forbidden("this session belongs to another user")
        return row

    async def terminate_own(self, principal: Principal, session_id: uuid.UUID, occ_lock: int | None) -> None:
        """``POST /session/{id}/terminate``: the owner only; terminating twice is harmless.

        The ownership check rides in the UPDATE itself (one round trip); only when nothing changed is the row read
        to tell "already inactive" from "not yours", "unknown" or "stale occ_lock".
        """
        owner = (principal.tenant_id, principal.user_id)
        if await self._terminate(session_id, principal.user_id, "terminated", occ_lock, owner):
            return
        row = await self._find(principal, session_id)
        if row.user_id != principal.user_id or row.tenant_id != principal.tenant_id:
            raise forbidden("only the session's owner may terminate it here; admins use /admin/sessions/terminate")
        await self._explain_unchanged(row, occ_lock)

    async def terminate_many(self, admin: Principal, session_ids: list[uuid.UUID]) -> dict[str, list[str]]:
        """``POST /admin/sessions/terminate``: what was terminated, already inactive, or not found."""
        outcome: dict[str, list[str]] = {"terminated": [], "already_inactive": [], "not_found": []}
        for session_id in dict.fromkeys(session_ids):
            try:
                row = await self._find(admin, session_id)
            except ResourceNotFoundError:
                outcome["not_found"].append(str(session_id))
                continue
            changed = await self._terminate(row.id, admin.user_id, "terminated_by_admin", None)
            if not changed:
                await self._release_quietly(row.id)
            outcome["terminated" if changed else "already_inactive"].append(str(session_id))
        return outcome

    async def _terminate(
        self,
        session_id: uuid.UUID,
        actor: str,
        reason: str,
        occ_lock: int | None,
        owner: tuple[uuid.UUID, str] | None = None,
    ) -> bool:
        """Terminate and free the slot; False when nothing changed."""
        changed = await self._repository.terminate(
            session_id, actor=actor, reason=reason, expected_occ_lock=occ_lock, owner=owner
        )
        if changed is None:
            return False
        await self._ended([session_id])
        return True

    async def terminate(self, session_id: uuid.UUID, *, actor: str, reason: str) -> bool:
        """Terminate a session whose rights the caller checked (record and replay's end and reset).

        False when it was not ACTIVE.
        """
        return await self._terminate(session_id, actor, reason, None)

    async def _explain_unchanged(self, row: SessionRow, occ_lock: int | None) -> None:
        """A terminate changed nothing: a stale occ_lock is a 409, an INACTIVE session otherwise fine (idempotent).

        The occ_lock is checked whatever the status: of many writes with one occ_lock, exactly one wins.
        """
        if occ_lock is not None and row.occ_lock != occ_lock:
            raise _conflict(f"session {row.id} changed (occ_lock is {row.occ_lock})")
        if row.status == "INACTIVE":
            # A release may have been lost to a Redis outage before; freeing again is harmless.
            await self._release_quietly(row.id)

    async def delete(self, principal: Principal, session_id: uuid.UUID, occ_lock: int | None) -> None:
        """``DELETE /session/{id}``: the owner or an admin of its tenant."""
        row = await self.controlled(principal, session_id)
        try:
            await self._repository.delete(row.id, actor=principal.user_id, expected_occ_lock=occ_lock)
        except ConflictError as exc:
            raise _conflict(str(exc)) from None
        except NotFoundError:
            raise not_found(f"session {session_id} not found") from None
        await self._ended([row.id])

    async def _release_quietly(self, session_id: uuid.UUID) -> None:
        try:
            await self._admission.release(session_id)
        except (RedisError, OSError):
            # Reconciliation frees it once Redis is back.
            _log.warning("could not free the admission slot of session %s", session_id)

    async def use(self, principal: Principal, session_id: uuid.UUID | None) -> SessionRow:
        """The ACTIVE session a replay call works in: the given one, or the caller's only ACTIVE one."""
        if session_id is None:
            page = await self._repository.list(
                SessionQuery(tenant_id=principal.tenant_id, status="ACTIVE", user_id=principal.user_id, page=1, size=2)
            )
            if page.total != 1:
                raise InvalidInputError(
                    "name the session with the X-Session-ID header or the session_id parameter"
                    if page.total
                    else "no ACTIVE session: create one with POST /session",
                    details={"field": "session_id"},
                )
            row = page.rows[0]
        else:
            row = await self.controlled(principal, session_id)
        if row.status != "ACTIVE":
            raise SessionInactiveError(f"session {row.id} is INACTIVE", action="create_new_session")
        self.liveness.touch(row.id)
        return row

    async def list(self, principal: Principal, request: ListRequest) -> SessionPage:
        """``GET /admin/sessions`` within what the admin may see."""
        tenant_id = request.tenant_id
        if tenant_id is None:
            tenant_id = principal.tenant_id
        elif tenant_id != principal.tenant_id and not principal.is_global_admin:
            raise forbidden("listing another tenant's sessions needs the global admin role")
        return await self._repository.list(
            SessionQuery(
                tenant_id=tenant_id,
                status=request.status,
                user_id=request.user_id,
                sort=request.sort,
                page=request.page,
                size=request.size,
            )
        )

    async def count_active(self) -> int:
        """The number of ACTIVE sessions (all tenants: the limit is global)."""
        return await self._repository.count_active()

    async def sync_admission(self) -> None:
        """Make sure Redis holds the admission set (at start-up, so the first creates need no rebuild)."""
        await self._admission.rebuild()

    async def reconcile_admission(self) -> None:
        """Free admission slots lost to a Redis outage (periodic, on every replica)."""
        await self._admission.reconcile()

    async def expire_idle(self) -> None:
        """End the sessions idle past the timeout and free their slots (periodic, on every replica)."""
        await self.liveness.flush()
        expired = await self._repository.expire_idle(utc_now() - self._idle_timeout)
        if expired:
            _log.info("expired %d idle sessions", len(expired))
            await self._ended(expired)


def _limit_reached(limit: int) -> SessionLimitError:
    return SessionLimitError(
        f"the maximum of {limit} active sessions is reached; terminate one of yours and retry",
        details={"max_active_sessions": limit},
    )


def _creation_failed(reason: str) -> SessionCreationError:
    return SessionCreationError(f"could not create the session: {reason}; retry in a moment")


def _conflict(message: str) -> StaleVersionError:
    return StaleVersionError(message)
