"""The replica's live playback: the sessions it plays (it owns their clock) and the viewers attached to it.

A :class:`LiveSession` exists on a replica while the session has viewers there or is played there. Exactly one
replica **owns** a session's clock, through the Redis lease of :mod:`app.live.cluster`: it runs the session's
:class:`~playback.runner.PlaybackRunner`, saves its clock, and publishes what it produces. A replica with viewers
of a session owned elsewhere **follows** it: it feeds its viewers from the owner's notes and forwards their
commands to the owner. Either way, each frame is encoded once per replica and pushed to every viewer's bounded
outbox; ``status`` and ``ended`` are encoded once and handed to each viewer.

Ownership: loading a session takes its lease if free, else follows. The owner renews the lease every third of
``MSR_PLAYBACK_LEASE_S`` and stops playing the moment a renewal fails (or a fenced write is refused). A follower
that finds the lease free takes it, starts a runner from the owner's last checkpoint at the position the clock
has reached by now, and first sends frames from where its viewers are to that position, so that they continue
with no gap in ``seq``.

Viewers: each connection gets a :class:`~playback.runner.Viewer` whose outbox starts where the session's frames
end. When a connection drops, its viewer is *parked* for ``MSR_WS_RESUME_GRACE_S``: it keeps receiving frames
(within its bounds), and a new connection of the same user that sends ``resume`` takes it over. With no single
parked viewer to take over, the new viewer gets a fresh state numbered after the client's ``seq``.

Lifecycle: a session with no viewers anywhere that is not playing is unloaded (its clock saved, its lease given
back). The owner saves the clock after every command and every few seconds while playing. Shutdown closes every
viewer (1001), stops every runner, saves its clock and gives its lease back, so another replica takes over. A
session terminated anywhere (REST, admin, idle expiry) is announced to every replica, whose viewers get an
``error`` with code ``SESSION_INACTIVE`` and are closed with 4409.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from redis.exceptions import RedisError

from app.auth import Principal
from app.domain.admin_settings import RuntimeSettings
from app.domain.replay import playback_range
from app.domain.sessions import SessionService
from app.errors import (
    CLOSE_SESSION_INACTIVE,
    NotOwnerError,
    SessionInactiveError,
    ShuttingDownError,
    answer_of,
    forbidden,
    not_found,
)
from app.live.cluster import (
    Checkpoint,
    CommandNote,
    EndedNote,
    FrameNote,
    Lease,
    NoteEvent,
    PlaybackCluster,
    ResetNote,
    SessionNote,
    StatusNote,
    encode_note,
)
from app.live.source import StoreEventSource
from app.settings import Settings
from app.web import utc_now
from playback.clock import MAX_SPEED, MIN_SPEED
from playback.frames import Frame
from playback.instants import format_timestamp, from_micros, to_micros
from playback.messages import (
    Ended,
    Error,
    Hello,
    MessageId,
    PlayState,
    Range,
    Seek,
    Speed,
    Start,
    Status,
    Stop,
    encode,
)
from playback.outbox import EncodedFrame, ViewerOutbox
from playback.ports import ClockStatus
from playback.runner import PlaybackRunner, Viewer
from playback.session import PlaybackSession
from store.errors import StoreUnavailableError
from store.events import EventStore
from store.playback import PlaybackStore
from store.sessions import SessionRepository, SessionRow

_log = logging.getLogger("msr.playback")

Command = Start | Stop | Seek | Speed
"""A control command, from a WebSocket or from the record-and-replay REST API."""
Access = Literal["control", "view"]

CLOSE_GOING_AWAY = 1001
"""Close code: this replica is shutting down; reconnect (to any replica) and resume."""

_SAVE_EVERY_S = 5.0
_MAX_PARKED = 16
_MAX_UNPUBLISHED = 256
_RNR_STATUS = {"playing": "PLAYING", "ended": "COMPLETED"}
_READ_LIMIT = 5000


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


def status_message(status: ClockStatus, reply_to: MessageId | None = None) -> Status:
    """The ``status`` message of a clock."""
    return Status(state=status.state, position=format_timestamp(status.position), speed=status.speed, reply_to=reply_to)


@dataclass(slots=True)
class _Parked:
    user_id: str
    until: float


@dataclass(slots=True)
class Attachment:
    """A viewer attached to a live session, with the ``hello`` to send it first."""

    live: LiveSession
    viewer: Viewer
    hello: bytes
    access: Access


@dataclass(eq=False)
class LiveSession:
    """A session played or followed on this replica; the sink of its runner when owned here."""

    session_id: uuid.UUID
    tenant_id: uuid.UUID
    kind: str
    source: StoreEventSource
    rnr_status: str | None
    clock: ClockStatus
    """The clock as last known (the runner's when owned here)."""
    tail: int
    """Where the frames end: where a new viewer's frames start."""
    runner: PlaybackRunner | None = None
    task: asyncio.Task[None] | None = None
    lease: Lease | None = None
    followed: bool = False
    """Owner: whether another replica follows, so frames must be published."""
    epoch: int = 0
    """Follower: the highest owner epoch heard; notes of older owners are ignored."""
    unpublished: deque[tuple[bytes | None, Checkpoint | None]] = field(default_factory=deque)
    publishing: asyncio.Event = field(default_factory=asyncio.Event)
    publisher: asyncio.Task[None] | None = None
    viewers: set[Viewer] = field(default_factory=set)
    parked: dict[Viewer, _Parked] = field(default_factory=dict)
    ended_message: bytes | None = None
    saved_at: float = 0.0
    dirty: bool = False
    taking_over: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while this replica takes the session over: the lease loop and a command may both try at once."""

    @property
    def owned(self) -> bool:
        return self.runner is not None

    def everyone(self) -> list[Viewer]:
        """Connected and parked viewers."""
        return [*self.viewers, *self.parked]

    def now(self) -> ClockStatus:
        """The clock now."""
        if self.runner is not None:
            return self.runner.status()
        clock = self.clock
        position = clock.position_at(time.time())
        return ClockStatus(clock.state, position, clock.speed, clock.start, clock.end, time.time())

    # The runner's sink: to the local viewers, and to the followers.

    def frame(self, frame: EncodedFrame) -> None:
        self.fan_frame(frame)
        if self.followed:
            events = [NoteEvent.of(event) for event in frame.events]
            self._publish(FrameNote(self.epoch, frame.from_, frame.to, events), checkpoint=True)

    def reset(self, position: int) -> None:
        self.fan_reset(position)
        self._publish(ResetNote(self.epoch, position), checkpoint=True)

    def status(self, status: ClockStatus) -> None:
        self.fan_status(status)
        self._publish(StatusNote(self.epoch, Checkpoint.of(self.epoch, status, self.tail)), checkpoint=True)

    def ended(self, position: int) -> None:
        self.fan_ended(position)
        self._publish(EndedNote(self.epoch, position), checkpoint=True)

    def _publish(self, note: SessionNote | None, *, checkpoint: bool) -> None:
        if self.lease is None:
            return
        if len(self.unpublished) >= _MAX_UNPUBLISHED:
            # Redis is not keeping up: drop the oldest; a follower resynchronises at the next frame it gets.
            self.unpublished.popleft()
        point = Checkpoint.of(self.epoch, self.clock, self.tail) if checkpoint else None
        self.unpublished.append((None if note is None else encode_note(note), point))
        self.publishing.set()

    # Fan-out to the viewers of this replica.

    def fan_frame(self, frame: EncodedFrame) -> None:
        self.tail = frame.to
        for viewer in self.everyone():
            viewer.push(frame)

    def fan_reset(self, position: int) -> None:
        self.tail = position
        self.ended_message = None
        for viewer in self.everyone():
            viewer.reset(position)

    def fan_status(self, status: ClockStatus) -> None:
        if (status.state, status.speed) != (self.clock.state, self.clock.speed):
            self.dirty = True
        self.clock = status
        message = encode(status_message(status))
        for viewer in self.everyone():
            viewer.status(message)

    def fan_ended(self, position: int) -> None:
        self.ended_message = encode(Ended(position=format_timestamp(position)))
        for viewer in self.everyone():
            viewer.ended(self.ended_message)


class PlaybackHub:
    """Every live session of this replica; see the module's docstring."""

    def __init__(
        self,
        settings: Settings,
        sessions: SessionService,
        events: EventStore,
        store: PlaybackStore,
        runtime: RuntimeSettings,
        repository: SessionRepository,
        cluster: PlaybackCluster,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._events = events
        self._store = store
        self._runtime = runtime
        self._repository = repository
        self._cluster = cluster
        self._lease_s = settings.playback_lease_s
        self._live: dict[uuid.UUID, LiveSession] = {}
        self._loading: dict[uuid.UUID, asyncio.Lock] = {}
        self._state_slots = asyncio.Semaphore(max(1, settings.db_pool_max // 2))
        self._closed = False
        sessions.on_terminated(self.terminated)

    async def start(self) -> None:
        """Join the other replicas (listen for notes, commands and terminations)."""
        await self._cluster.start(self)

    @property
    def replica_id(self) -> str:
        return self._cluster.replica_id

    def live(self, session_id: uuid.UUID) -> LiveSession | None:
        """The live session, if it is live here."""
        return self._live.get(session_id)

    # Sessions.

    async def session_row(self, session_id: uuid.UUID) -> SessionRow:
        """The session as stored (NotFoundError when unknown)."""
        return await self._repository.get(session_id)

    async def current_rnr(self, tenant_id: uuid.UUID) -> SessionRow | None:
        """The tenant's live record-and-replay session, if any."""
        return await self._store.current_rnr(tenant_id)

    async def set_rnr_status(self, session_id: uuid.UUID, status: str) -> None:
        """Record the record-and-replay status words of a session (kept in memory too while it is live here)."""
        live = self._live.get(session_id)
        if live is not None:
            live.rnr_status = status
        await self._store.set_rnr_status(session_id, status)

    async def log(
        self,
        session_id: uuid.UUID,
        tenant_id: uuid.UUID,
        actor: str,
        action: str,
        details: dict[str, object] | None = None,
    ) -> None:
        """Append to a session's activity log."""
        await self._store.log_activity(session_id, tenant_id, actor, action, details)

    async def clock(self, session_id: uuid.UUID) -> ClockStatus | None:
        """The session's clock now: from this replica when live here, else from its owner's last checkpoint."""
        live = self._live.get(session_id)
        if live is not None:
            return live.now()
        checkpoint = await self._cluster.checkpoint(session_id)
        if checkpoint is None:
            return None
        clock = checkpoint.clock
        return ClockStatus(
            clock.state, clock.position_at(time.time()), clock.speed, clock.start, clock.end, time.time()
        )

    # Viewers.

    async def attach(self, row: SessionRow, principal: Principal, access: Access) -> Attachment:
        """A new viewer of the session, whose frames start where the session's frames end now."""
        live = await self._ensure(row)
        settings = self._settings
        viewer = Viewer(
            ViewerOutbox(
                live.tail,
                max_frames=settings.viewer_queue_frames,
                max_bytes=settings.viewer_queue_bytes,
                history_frames=settings.viewer_history_frames,
                history_bytes=settings.viewer_history_bytes,
                diff_seek_within_us=round(settings.diff_seek_within_s * 1_000_000),
            )
        )
        live.viewers.add(viewer)
        if live.ended_message is not None:
            viewer.ended(live.ended_message)
        status = live.now()
        hello = Hello(
            session_id=str(row.id),
            state=status.state,
            speed=status.speed,
            position=format_timestamp(status.position),
            range_=Range(start=format_timestamp(status.start), end=format_timestamp(status.end)),
        )
        self._sessions.liveness.touch(row.id)
        await self.log(row.id, row.tenant_id, principal.user_id, "viewer_attached", {"access": access})
        return Attachment(live, viewer, encode(hello), access)

    def resume(self, attachment: Attachment, user_id: str, seq: int) -> Viewer:
        """The viewer that continues a client which applied up to ``seq``: a parked one of its user, or the new one.

        A parked viewer is taken over only when it is the only one of this user whose frames reached ``seq``.
        """
        live = attachment.live
        candidates = [
            viewer
            for viewer, parked in live.parked.items()
            if parked.user_id == user_id and viewer.outbox.last_seq >= seq
        ]
        if len(candidates) == 1:
            [chosen] = candidates
            del live.parked[chosen]
            live.viewers.discard(attachment.viewer)
            live.viewers.add(chosen)
            attachment.viewer = chosen
        attachment.viewer.resume(seq)
        return attachment.viewer

    async def detach(self, attachment: Attachment, user_id: str, *, park: bool) -> None:
        """The viewer's connection closed; with ``park`` its frames are kept for a resume (see the module)."""
        live = attachment.live
        live.viewers.discard(attachment.viewer)
        grace = self._settings.ws_resume_grace_s
        if park and grace > 0 and not self._closed and live is self._live.get(live.session_id):
            live.parked[attachment.viewer] = _Parked(user_id, time.monotonic() + grace)
            while len(live.parked) > _MAX_PARKED:
                del live.parked[next(iter(live.parked))]
        with contextlib.suppress(StoreUnavailableError):
            await self.log(live.session_id, live.tenant_id, user_id, "viewer_detached")
        await self._unload_if_idle(live)

    # Control.

    async def control_row(self, row: SessionRow, actor: str, command: Command) -> ClockStatus:
        """Apply a command to a session, loading it here first if needed (the REST API's way in)."""
        return await self.control(await self._ensure(row), actor, command)

    async def control(self, live: LiveSession, actor: str, command: Command) -> ClockStatus:
        """Apply a command to the session's clock, here or at its owner; a DomainError or PlaybackError if refused."""
        if self._live.get(live.session_id) is not live:
            raise SessionInactiveError("the session is no longer played")
        if live.runner is None:
            owner = await self._cluster.owner(live.session_id)
            if owner is None:
                await self._take_over(live)
            if live.runner is None:
                if owner is None or owner == self.replica_id:
                    raise NotOwnerError("the session is changing servers; retry")
                checkpoint = await self._cluster.request(owner, live.session_id, actor, command)
                return checkpoint.clock
        return await self._apply(live, actor, command)

    async def on_command(self, note: CommandNote) -> Checkpoint:
        """A command forwarded by another replica for a session owned here."""
        live = self._live.get(uuid.UUID(note.session_id))
        if live is None or live.runner is None:
            raise NotOwnerError("this server does not play the session")
        status = await self._apply(live, note.actor, note.command)
        return Checkpoint.of(live.epoch, status, live.tail)

    async def _apply(self, live: LiveSession, actor: str, command: Command) -> ClockStatus:
        runner = live.runner
        assert runner is not None
        details: dict[str, object]
        match command:
            case Start(speed=speed):
                status = runner.start(speed)
                action, details = "started", {"speed": status.speed}
            case Stop():
                status = runner.stop()
                action, details = "stopped", {"position": format_timestamp(status.position)}
            case Seek():
                status = runner.seek(command.position)
                action, details = "seeked", {"position": format_timestamp(status.position)}
            case Speed(speed=speed):
                status = runner.set_speed(speed)
                action, details = "speed_changed", {"speed": status.speed}
        try:
            await self._save(live, status)
            await self.log(live.session_id, live.tenant_id, actor, action, details)
        except StoreUnavailableError:
            # The command took effect; the clock is saved again by the next upkeep.
            live.dirty = True
            _log.warning("could not record %s of session %s", action, live.session_id)
        return status

    # Notes from the other replicas.

    def on_session_note(self, session_id: uuid.UUID, note: SessionNote) -> None:
        """A note from the owner of a session followed here."""
        live = self._live.get(session_id)
        if live is None or live.owned or note.epoch < live.epoch:
            return
        live.epoch = note.epoch
        match note:
            case FrameNote():
                if note.to > live.tail:
                    events = tuple(event.change() for event in note.events)
                    live.fan_frame(EncodedFrame.of(Frame(note.from_, note.to, events, 0.0)))
            case ResetNote(position=position):
                live.fan_reset(position)
            case StatusNote(checkpoint=checkpoint):
                live.fan_status(checkpoint.clock)
            case EndedNote(position=position):
                live.fan_ended(position)

    def on_follow(self, session_id: uuid.UUID) -> None:
        """Another replica follows a session owned here: publish its frames from now on."""
        live = self._live.get(session_id)
        if live is not None and live.owned:
            live.followed = True

    # Termination, upkeep and shutdown.

    async def terminated(self, session_ids: list[uuid.UUID]) -> None:
        """Sessions stopped being ACTIVE here: close their viewers everywhere and drop their leases."""
        await self.on_terminated(session_ids)
        try:
            await self._cluster.announce_terminated(session_ids)
            for session_id in session_ids:
                # Whoever held it (even a stuck replica): its next fenced write is refused.
                await self._cluster.force_release(session_id)
        except (RedisError, OSError):
            _log.warning("could not announce terminated sessions; their other replicas notice at their next check")

    async def on_terminated(self, session_ids: list[uuid.UUID]) -> None:
        """Sessions stopped being ACTIVE: tell their viewers here, close them, and stop playing."""
        message = encode(Error(code=answer_of(SessionInactiveError("")).ws_code, message="the session was terminated"))
        for session_id in session_ids:
            live = self._live.pop(session_id, None)
            if live is None:
                continue
            for viewer in live.everyone():
                viewer.notice(message)
                viewer.close(CLOSE_SESSION_INACTIVE, "session terminated")
            live.parked.clear()
            await self._drop(live, save=False)

    async def upkeep(self) -> None:
        """Periodic (about once a second): keep watched sessions alive, drop stale parked viewers, save clocks."""
        now = time.monotonic()
        for live in list(self._live.values()):
            # A shared replay that plays is in use even when nobody watches it right now.
            if live.viewers or (live.kind == "rnr" and live.runner is not None and live.runner.playing):
                self._sessions.liveness.touch(live.session_id)
            for viewer, parked in list(live.parked.items()):
                if parked.until <= now:
                    del live.parked[viewer]
            if live.runner is not None:
                status = live.runner.status()
                if live.dirty or (status.state == "playing" and now - live.saved_at >= _SAVE_EVERY_S):
                    await self._save(live, status)
            await self._unload_if_idle(live)

    async def tend_leases(self) -> None:
        """Periodic (every third of the lease): renew what is owned here, take over what lost its owner."""
        if self._closed:
            return
        for live in list(self._live.values()):
            if live is not self._live.get(live.session_id):
                continue
            if live.lease is not None:
                await self._renew(live, live.lease)
            elif await self._cluster.owner(live.session_id) is None:
                await self._take_over(live)

    async def close(self) -> None:
        """Shut down: tell every viewer to reconnect elsewhere, stop every runner, save its clock, give leases back."""
        self._closed = True
        for live in list(self._live.values()):
            for viewer in live.everyone():
                viewer.close(CLOSE_GOING_AWAY, "server shutting down; reconnect and resume")
            live.parked.clear()
            self._live.pop(live.session_id, None)
            await self._drop(live, save=True)
        await self._cluster.close()

    # Loading, owning and following.

    async def _ensure(self, row: SessionRow) -> LiveSession:
        if self._closed:
            raise ShuttingDownError("the server is shutting down")
        live = self._live.get(row.id)
        if live is not None:
            return live
        lock = self._loading.setdefault(row.id, asyncio.Lock())
        try:
            async with lock:
                live = self._live.get(row.id)
                if live is None:
                    live = await self._load(row)
                    self._live[row.id] = live
                return live
        finally:
            if not lock.locked():
                self._loading.pop(row.id, None)

    async def _load(self, row: SessionRow) -> LiveSession:
        if row.range_start is None or row.range_end is None:
            earliest = await self._events.earliest_instant(row.tenant_id)
            window = playback_range(self._runtime.current, utc_now(), earliest)
            row = await self._store.set_range(row.id, window.start, window.end)
        assert row.range_start is not None
        assert row.range_end is not None
        start, end = to_micros(row.range_start), to_micros(row.range_end)
        if start >= end:
            raise SessionInactiveError(f"session {row.id} has an empty playback range; create another")
        position = start if row.playback_position is None else min(end, max(start, to_micros(row.playback_position)))
        state: PlayState = (
            "ended" if row.playback_state == "ended" else "playing" if row.playback_state == "playing" else "paused"
        )
        speed = min(MAX_SPEED, max(MIN_SPEED, row.playback_speed))
        source = StoreEventSource(
            self._events,
            self._store,
            row.tenant_id,
            work_mem_mb=lambda: self._runtime.current.query_work_mem_mb,
            state_slots=self._state_slots,
        )
        live = LiveSession(
            row.id,
            row.tenant_id,
            row.kind,
            source,
            row.rnr_status,
            clock=ClockStatus(state, end if state == "ended" else position, speed, start, end, time.time()),
            tail=end if state == "ended" else position,
        )
        lease = await self._cluster.acquire(row.id)
        if lease is not None:
            await self._own(live, lease)
        else:
            await self._follow(live)
        return live

    async def _follow(self, live: LiveSession) -> None:
        # Subscribe first, then read where the owner is: a frame published in between is not lost.
        await self._cluster.follow(live.session_id)
        checkpoint = await self._cluster.checkpoint(live.session_id)
        if checkpoint is not None and checkpoint.epoch >= live.epoch:
            live.epoch = checkpoint.epoch
            live.clock = checkpoint.clock
            live.tail = checkpoint.sent_to

    async def _take_over(self, live: LiveSession) -> None:
        """The lease is free: take it and play the session here from where its clock is now."""
        async with live.taking_over:
            if live.runner is None:
                await self._take_over_now(live)

    async def _take_over_now(self, live: LiveSession) -> None:
        lease = await self._cluster.acquire(live.session_id)
        if lease is None:
            return
        try:
            row = await self.session_row(live.session_id)
        except Exception:
            await self._cluster.release(live.session_id, lease)
            raise
        if row.status != "ACTIVE":
            await self._cluster.release(live.session_id, lease)
            await self.on_terminated([live.session_id])
            return
        await self._cluster.unfollow(live.session_id)
        checkpoint = await self._cluster.checkpoint(live.session_id)
        if checkpoint is not None and checkpoint.epoch >= live.epoch:
            live.clock, live.tail = checkpoint.clock, checkpoint.sent_to
        _log.info("replica %s takes over session %s (epoch %d)", self.replica_id, live.session_id, lease.epoch)
        await self._own(live, lease)

    async def _own(self, live: LiveSession, lease: Lease) -> None:
        """Play the session here under ``lease``, from its owner's last checkpoint (or its row)."""
        live.lease, live.epoch = lease, lease.epoch
        checkpoint = await self._cluster.checkpoint(live.session_id)
        clock = live.clock
        if checkpoint is not None and (checkpoint.start, checkpoint.end) == (clock.start, clock.end):
            clock, live.tail = checkpoint.clock, checkpoint.sent_to
        live.followed = await self._cluster.followers(live.session_id) > 0
        live.publisher = asyncio.create_task(self._publisher(live), name=f"msr:publish:{live.session_id}")
        settings = self._settings
        session = PlaybackSession(
            clock.start,
            clock.end,
            frame_interval_s=settings.frame_interval_ms / 1000,
            speed=clock.speed,
            max_buffered_events=settings.playback_buffer_events,
            read_ahead_s=settings.playback_read_ahead_s,
        )
        runner = PlaybackRunner(
            session, live.source, live, read_limit=min(_READ_LIMIT, settings.playback_buffer_events)
        )
        live.runner = runner
        target = clock.end if clock.state == "ended" else clock.position_at(time.time())
        if live.everyone() or live.followed:
            # Viewers are at the tail: bring them to where the clock is, frame by frame, with no gap in seq.
            target = await self._catch_up(live, clock, target)
            if live.runner is not runner:
                # Stopped while catching up (the lease was lost, or the session dropped): nothing is left to start.
                return
        elif target != live.tail:
            live.fan_reset(target)
        live.tail = target
        now = time.monotonic()
        if target != clock.start:
            session.seek(target, now)
        if clock.state == "playing" and target < clock.end:
            session.start(now)
        live.saved_at = time.monotonic()
        live.task = asyncio.create_task(runner.run(), name=f"msr:playback:{live.session_id}")

    async def _catch_up(self, live: LiveSession, clock: ClockStatus, target: int) -> int:
        """Send frames from the tail to ``target`` (and to wherever a playing clock got meanwhile); the end."""
        for _ in range(3):
            while live.tail < target:
                batch = await live.source.events(live.tail, target, _READ_LIMIT)
                live.frame(EncodedFrame.of(Frame(live.tail, batch.reached, tuple(batch.events), time.monotonic())))
            if clock.state != "playing":
                break
            later = clock.position_at(time.time())
            if later - target < clock.speed * self._settings.frame_interval_ms * 1000:
                break
            target = later
        return target

    async def _publisher(self, live: LiveSession) -> None:
        """Publish the owner's notes in order, fenced by its lease; a refused write ends the ownership."""
        lease = live.lease
        assert lease is not None
        while True:
            await live.publishing.wait()
            live.publishing.clear()
            while live.unpublished:
                note, checkpoint = live.unpublished.popleft()
                try:
                    kept = await self._cluster.publish(live.session_id, lease, checkpoint=checkpoint, note=note)
                except (RedisError, OSError):
                    # The lease check decides about ownership; this note is lost (followers resynchronise).
                    _log.warning("could not publish to the followers of session %s", live.session_id)
                    continue
                if not kept:
                    asyncio.get_running_loop().call_soon(self._spawn_demote, live, lease)
                    return

    def _spawn_demote(self, live: LiveSession, lease: Lease) -> None:
        if live.lease is lease:
            task = asyncio.ensure_future(self._demote(live))
            task.add_done_callback(_log_failure)

    async def _renew(self, live: LiveSession, lease: Lease) -> None:
        try:
            async with asyncio.timeout(self._lease_s / 3):
                kept = await self._cluster.renew(live.session_id, lease)
                live.followed = await self._cluster.followers(live.session_id) > 0
        except (RedisError, OSError, TimeoutError):
            kept = False
        if not kept and live.lease is lease:
            await self._demote(live)

    async def _demote(self, live: LiveSession) -> None:
        """The lease is lost: stop playing at once; follow the new owner if viewers remain here."""
        _log.warning("replica %s lost the lease of session %s", self.replica_id, live.session_id)
        await self._stop_runner(live)
        live.lease = None
        if live is not self._live.get(live.session_id):
            return
        if live.everyone():
            try:
                await self._follow(live)
            except (RedisError, OSError):
                _log.warning("could not follow session %s; the next check retries", live.session_id)
        else:
            self._live.pop(live.session_id, None)

    async def _unload_if_idle(self, live: LiveSession) -> None:
        if live.everyone() or self._live.get(live.session_id) is not live:
            return
        if live.runner is not None and (live.runner.playing or live.followed):
            return
        del self._live[live.session_id]
        await self._drop(live, save=True)

    async def _drop(self, live: LiveSession, *, save: bool) -> None:
        """Stop the session here: its runner (saving the clock when asked), its lease, its subscription."""
        lease = live.lease
        if live.runner is not None:
            status = live.runner.status()
            await self._stop_runner(live)
            if save:
                try:
                    await self._save(live, status)
                except StoreUnavailableError:
                    _log.warning("could not save the clock of session %s", live.session_id)
                with contextlib.suppress(RedisError, OSError):
                    if lease is not None:
                        await self._cluster.publish(
                            live.session_id, lease, checkpoint=Checkpoint.of(live.epoch, status, live.tail), note=None
                        )
        with contextlib.suppress(RedisError, OSError):
            if lease is not None:
                await self._cluster.release(live.session_id, lease)
            await self._cluster.unfollow(live.session_id)
        live.lease = None

    async def _stop_runner(self, live: LiveSession) -> None:
        runner, task, publisher = live.runner, live.task, live.publisher
        live.runner = live.task = live.publisher = None
        live.unpublished.clear()
        if runner is not None:
            runner.close()
        for pending in (task, publisher):
            if pending is not None and pending is not asyncio.current_task():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending

    async def _save(self, live: LiveSession, status: ClockStatus) -> None:
        rnr_status = None
        if live.kind == "rnr":
            rnr_status = _RNR_STATUS.get(status.state)
            if status.state == "paused" and live.rnr_status not in (None, "INITIALIZED"):
                rnr_status = "PAUSED"
            live.rnr_status = rnr_status or live.rnr_status
        live.dirty = False
        live.saved_at = time.monotonic()
        await self._store.save_clock(
            live.session_id, status.state, status.speed, from_micros(status.position), rnr_status
        )


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error("playback coordination failed", exc_info=task.exception())
