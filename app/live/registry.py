"""The replica's live playback: the registry of its live sessions, and the way commands reach their owner.

A :class:`~app.live.session.LiveSession` is registered here while the session has viewers on this replica or is
played here. Exactly one replica **owns** a session's clock, through its Redis lease (:mod:`app.live.owner`); a
replica with viewers of a session owned elsewhere **follows** it (:mod:`app.live.follower`). Loading a session takes
its lease if free, else follows; a follower that finds the lease free takes the session over.

Commands (from a viewer of any replica, or from the REST API through any replica) are applied by the owner: here
when owned here, else sent to the owner over Redis (:meth:`~app.live.cluster.PlaybackCluster.request`), whose answer
(the clock, or a refusal raised again as its own class) comes back the same way.

Viewers: each connection gets a :class:`~playback.runner.Viewer` whose outbox starts where the session's frames
end. When a connection drops, its viewer is *parked* for ``MSR_WS_RESUME_GRACE_S``: it keeps receiving frames
(within its bounds), and a new connection of the same user that sends ``resume`` takes it over. With no single
parked viewer to take over, the new viewer gets a fresh state numbered after the client's ``seq``.

Lifecycle: a session with no viewers anywhere that is not playing is unloaded (its clock saved, its lease given
back). Shutdown closes every viewer (1001), stops every runner, saves its clock and gives its lease back, so another
replica takes over. A session terminated anywhere (REST, admin, idle expiry) is announced to every replica, whose
viewers get an ``error`` with code ``SESSION_INACTIVE`` and are closed with 4409.

(Over 400 lines: this is where viewers, commands, terminations, upkeep and shutdown meet; the roles themselves are
in :mod:`app.live.owner` and :mod:`app.live.follower`, the per-session state in :mod:`app.live.session`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import weakref
from typing import Final

from redis.exceptions import RedisError

from app import metrics
from app.auth import Principal
from app.coordination.scripts import AnyPipeline
from app.domain.admin_settings import RuntimeSettings
from app.domain.replay import current_window
from app.domain.sessions import Access, SessionService
from app.errors import (
    CLOSE_SESSION_INACTIVE,
    NotOwnerError,
    SessionInactiveError,
    ShuttingDownError,
    answer_of,
)
from app.live.cluster import PlaybackCluster
from app.live.follower import FollowerRole
from app.live.memory import MemoryRelease
from app.live.owner import OwnerRole
from app.live.presence import ViewerInfo
from app.live.protocol import Checkpoint, Command, CommandNote, SessionNote
from app.live.session import Attachment, LiveSession, Parked
from app.live.source import StoreEventSource
from app.live.viewer_log import ViewerLog
from app.settings import Settings
from playback.clock import MAX_SPEED, MIN_SPEED
from playback.instants import format_timestamp, to_micros
from playback.messages import Error, Hello, PlayState, Range, encode
from playback.outbox import ViewerOutbox
from playback.ports import ClockStatus
from playback.runner import Viewer
from store.errors import StoreUnavailableError
from store.events import EventStore
from store.playback import PlaybackStore
from store.sessions import SessionRepository, SessionRow

_log = logging.getLogger("msr.playback")

CLOSE_GOING_AWAY: Final = 1001
"""Close code: this replica is shutting down; reconnect (to any replica) and resume."""
MAX_PARKED_PER_USER: Final = 4
"""Dropped viewers kept per user and session (a user's tabs): a client that reconnects in a loop cannot pile up
parked viewers; the oldest gives way."""
_SHUTDOWN_DROP_S: Final = 1.5


class LiveRegistry:
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
        self._owner = OwnerRole(settings, cluster, store, self._demote)
        self._follower = FollowerRole(cluster)
        self._live: dict[uuid.UUID, LiveSession] = {}
        self._loading: dict[uuid.UUID, asyncio.Lock] = {}
        self._state_slots = asyncio.Semaphore(max(1, settings.db_pool_max // 2))
        self._viewer_log = ViewerLog(store)
        self._memory = MemoryRelease()
        self._closed = False
        self.viewer_info: weakref.WeakKeyDictionary[Viewer, ViewerInfo] = weakref.WeakKeyDictionary()
        """Who each viewer is, for the operators' live view (app.live.presence)."""
        self._slow_counted: weakref.WeakKeyDictionary[Viewer, tuple[int, int]] = weakref.WeakKeyDictionary()
        """Conflations and resyncs of each viewer already added to the metrics."""
        sessions.on_terminated(self.terminated)

    async def start(self) -> None:
        """Join the other replicas (listen for notes, commands and terminations)."""
        await self._cluster.start(self)

    @property
    def replica_id(self) -> str:
        return self._cluster.replica_id

    def live_sessions(self) -> list[LiveSession]:
        """The sessions live here."""
        return list(self._live.values())

    def live(self, session_id: uuid.UUID) -> LiveSession | None:
        """The live session, if it is live here."""
        return self._live.get(session_id)

    async def set_rnr_status(self, session_id: uuid.UUID, status: str) -> None:
        """Record the record-and-replay status words of a session (kept in memory too while it is live here)."""
        live = self._live.get(session_id)
        if live is not None:
            live.rnr_status = status
        await self._store.set_rnr_status(session_id, status)

    async def clock(self, session_id: uuid.UUID) -> ClockStatus | None:
        """The session's clock now: from this replica when live here, else from its owner's last checkpoint."""
        live = self._live.get(session_id)
        if live is not None:
            return live.now()
        checkpoint = await self._cluster.checkpoint(session_id)
        if checkpoint is None:
            return None
        clock, wall = checkpoint.clock, time.time()
        return ClockStatus(clock.state, clock.position_at(wall), clock.speed, clock.start, clock.end, wall)

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
        self._memory.attached()
        self.viewer_info[viewer] = ViewerInfo(principal.user_id, access, time.time())
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
        details = {"access": access, "replica": self.replica_id}
        self._viewer_log.note(row.id, row.tenant_id, principal.user_id, "viewer_attached", details)
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
        kept = park and grace > 0 and not self._closed and live is self._live.get(live.session_id)
        if not (kept and self._park(live, attachment.viewer, user_id, time.monotonic() + grace)):
            self._memory.ended()
        details = {"replica": self.replica_id}
        self._viewer_log.note(live.session_id, live.tenant_id, user_id, "viewer_detached", details)
        await self._unload_if_idle(live)

    def _park(self, live: LiveSession, viewer: Viewer, user_id: str, until: float) -> bool:
        """Keep a dropped viewer for a resume, within :data:`MAX_PARKED_PER_USER` and ``MSR_WS_RESUME_MAX_PARKED``.

        The bounds are per user and per replica, not per session: a session's viewers all dropped at once (a
        network cut) must all find their viewer again, or each would need a fresh state from the database at once.
        Answers whether the viewer is kept.
        """
        if self.parked_count() >= self._settings.ws_resume_max_parked:
            return False
        mine = [kept for kept, parked in live.parked.items() if parked.user_id == user_id]
        for oldest in mine[: max(0, len(mine) + 1 - MAX_PARKED_PER_USER)]:
            del live.parked[oldest]
        live.parked[viewer] = Parked(user_id, until)
        return True

    def parked_count(self) -> int:
        """Dropped viewers kept for a resume on this replica."""
        return sum(len(live.parked) for live in self._live.values())

    # Control.

    async def control_row(self, row: SessionRow, actor: str, command: Command) -> ClockStatus:
        """Apply a command to a session, loading it here first if needed (the REST API's way in)."""
        return await self.control(await self._ensure(row), actor, command)

    async def control(self, live: LiveSession, actor: str, command: Command) -> ClockStatus:
        """Apply a command to the session's clock, here or at its owner; its refusal as its own class."""
        if self._live.get(live.session_id) is not live:
            raise SessionInactiveError("the session is no longer played")
        if live.owner is None:
            owner = await self._cluster.owner(live.session_id)
            if owner is None:
                await self._take_over(live)
            if live.owner is None:
                if owner is None or owner == self.replica_id:
                    raise NotOwnerError("the session is changing servers; retry")
                checkpoint = await self._cluster.request(owner, live.session_id, actor, command)
                return checkpoint.clock
        return await self._owner.apply(live, actor, command)

    async def on_command(self, note: CommandNote) -> Checkpoint:
        """A command forwarded by another replica for a session owned here."""
        live = self._live.get(uuid.UUID(note.session_id))
        if live is None or live.owner is None:
            raise NotOwnerError("this server does not play the session")
        status = await self._owner.apply(live, note.actor, note.command)
        return Checkpoint.of(live.epoch, status, live.tail)

    # Notes from the other replicas.

    def on_session_note(self, session_id: uuid.UUID, note: SessionNote) -> None:
        """A note from the owner of a session followed here."""
        live = self._live.get(session_id)
        if live is not None:
            self._follower.apply(live, note)

    def on_follow(self, session_id: uuid.UUID) -> None:
        """Another replica follows a session owned here: publish its frames from now on."""
        live = self._live.get(session_id)
        if live is not None and live.owner is not None:
            live.owner.followed = True

    # Termination, upkeep and shutdown.

    async def terminated(self, session_ids: list[uuid.UUID], pipe: AnyPipeline) -> None:
        """Sessions stopped being ACTIVE here: close their viewers here.

        Their announcement to the other replicas and the release of their leases are queued on ``pipe``, which the
        caller sends.
        """
        await self.on_terminated(session_ids)
        self._cluster.queue_terminated(pipe, session_ids)

    async def on_terminated(self, session_ids: list[uuid.UUID]) -> None:
        """Sessions stopped being ACTIVE: tell their viewers here, close them, and stop playing."""
        refusal = SessionInactiveError("the session was terminated")
        message = encode(Error(code=answer_of(refusal).ws_code, message=refusal.message))
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
            runner = live.runner
            if live.viewers or (live.kind == "rnr" and runner is not None and runner.playing):
                self._sessions.liveness.touch(live.session_id)
            for viewer, parked in list(live.parked.items()):
                if parked.until <= now:
                    del live.parked[viewer]
                    self._memory.ended()
            self._count_slow_viewers(live)
            await self._owner.upkeep(live)
            await self._unload_if_idle(live)
        with contextlib.suppress(StoreUnavailableError):
            await self._viewer_log.flush()
        self._memory.upkeep()

    def _count_slow_viewers(self, live: LiveSession) -> None:
        """Add what the viewers' outboxes conflated or resynced since the last count to the metrics."""
        for viewer in live.everyone():
            outbox = viewer.outbox
            counted = self._slow_counted.get(viewer, (0, 0))
            metrics.frames_conflated(outbox.conflations - counted[0])
            metrics.resynced(outbox.resyncs - counted[1])
            self._slow_counted[viewer] = (outbox.conflations, outbox.resyncs)

    async def renew_leases(self) -> None:
        """Periodic (every third of the lease, on its own loop): renew every lease held here, in one round."""
        if self._closed:
            return
        for live in await self._owner.renew_all():
            await self._demote(live)

    async def take_over_orphans(self) -> None:
        """Periodic (every third of the lease): take over the sessions followed here whose owner is gone."""
        if self._closed:
            return
        for live in list(self._live.values()):
            taken = live.lease is not None or live is not self._live.get(live.session_id)
            if not taken and await self._cluster.owner(live.session_id) is None:
                await self._take_over(live)

    async def close(self) -> None:
        """Shut down: tell every viewer to reconnect elsewhere, stop every runner, save its clock, give leases back."""
        self._closed = True
        lives = list(self._live.values())
        self._live.clear()
        for live in lives:
            for viewer in live.everyone():
                viewer.close(CLOSE_GOING_AWAY, "server shutting down; reconnect and resume")
            live.parked.clear()
        # All at once, each bounded: with Redis or PostgreSQL dead, every save and release fails (or waits) alike.
        await asyncio.gather(*(self._drop_at_shutdown(live) for live in lives))
        with contextlib.suppress(StoreUnavailableError, TimeoutError):
            async with asyncio.timeout(_SHUTDOWN_DROP_S):
                await self._viewer_log.flush()
        await self._cluster.close()

    async def _drop_at_shutdown(self, live: LiveSession) -> None:
        try:
            async with asyncio.timeout(_SHUTDOWN_DROP_S):
                await self._drop(live, save=True)
        except TimeoutError:
            _log.warning("shutdown: gave up saving session %s; its lease expires by itself", live.session_id)
            await self._owner.stop(live)

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
            window = await current_window(self._events, self._runtime, row.tenant_id)
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
            metrics.lease_event("acquired")
            try:
                await self._owner.own(live, lease)
            except BaseException:
                # Not registered: nobody would renew or give back the lease.
                await self._owner.give_up(live, save=False)
                raise
        else:
            await self._follower.follow(live)
        return live

    async def _take_over(self, live: LiveSession) -> None:
        """The lease is free: take it and play the session here from where its clock is now."""
        async with live.taking_over:
            if live.owner is None:
                await self._take_over_now(live)

    async def _take_over_now(self, live: LiveSession) -> None:
        lease = await self._cluster.acquire(live.session_id)
        if lease is None:
            return
        try:
            row = await self._repository.get(live.session_id)
        except Exception:
            await self._cluster.release(live.session_id, lease)
            raise
        if row.status != "ACTIVE":
            await self._cluster.release(live.session_id, lease)
            await self.on_terminated([live.session_id])
            return
        await self._follower.unfollow(live)
        checkpoint = await self._cluster.checkpoint(live.session_id)
        if checkpoint is not None and checkpoint.epoch >= live.epoch:
            live.clock, live.tail = checkpoint.clock, checkpoint.sent_to
        _log.info("replica %s takes over session %s (epoch %d)", self.replica_id, live.session_id, lease.epoch)
        metrics.lease_event("taken_over")
        await self._owner.own(live, lease)

    async def _demote(self, live: LiveSession) -> None:
        """Another replica took the lease: stop playing at once; follow the new owner if viewers remain here."""
        _log.warning("replica %s lost the lease of session %s to another replica", self.replica_id, live.session_id)
        metrics.lease_event("lost")
        self._owner.forget(live)
        await self._owner.stop(live)
        live.lease = None
        if live is not self._live.get(live.session_id):
            return
        if live.everyone():
            try:
                await self._follower.follow(live)
            except (RedisError, OSError):
                _log.warning("could not follow session %s; the next check retries", live.session_id)
        else:
            self._live.pop(live.session_id, None)

    async def _unload_if_idle(self, live: LiveSession) -> None:
        if live.everyone() or self._live.get(live.session_id) is not live:
            return
        owner = live.owner
        if owner is not None and (owner.runner.playing or owner.followed):
            return
        del self._live[live.session_id]
        await self._drop(live, save=True)

    async def _drop(self, live: LiveSession, *, save: bool) -> None:
        """Stop the session here: its runner (saving the clock when asked), its lease, its subscription."""
        await self._owner.give_up(live, save=save)
        with contextlib.suppress(RedisError, OSError):
            await self._follower.unfollow(live)
