"""The owner role: playing a session here under its lease.

The owner runs the session's :class:`~playback.runner.PlaybackRunner`, publishes its notes to the followers through
a script fenced by the lease, and saves the clock after every command and every few seconds while playing. Taking
a session over starts a runner from the last owner's checkpoint at the position the clock has reached by now, and
first sends frames from where the viewers are to that position, so that they continue with no gap in ``seq``.

Leases: all the leases of this replica are renewed in one pipelined round (:meth:`OwnerRole.renew_all`) on the
lease loop's own schedule, so frame work cannot starve them; a lease that expired while nobody took it is taken
back. A replica stops playing a session only when another replica holds its lease, or a fenced write is refused.
When Redis does not answer, it keeps playing: nobody else can take the lease meanwhile either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Final

from redis.exceptions import RedisError

from app import metrics
from app.live.cluster import Lease, PlaybackCluster
from app.live.protocol import (
    Checkpoint,
    Command,
    LoopCommand,
    SeekCommand,
    SpeedCommand,
    StartCommand,
    StepCommand,
    StopCommand,
    UntilCommand,
)
from app.live.session import LiveSession, Ownership
from app.settings import Settings
from playback.errors import PlaybackError
from playback.frames import Frame
from playback.instants import duration_micros, format_timestamp, from_micros, to_micros
from playback.outbox import EncodedFrame
from playback.ports import ClockStatus
from playback.raw import EventChunk
from playback.runner import PlaybackRunner
from playback.session import PlaybackSession
from store.errors import StoreUnavailableError
from store.playback import PlaybackStore

_log = logging.getLogger("msr.playback")

SAVE_EVERY_S: Final = 5.0
"""How often a playing clock is saved to PostgreSQL."""
READ_LIMIT: Final = 5000
_RNR_STATUS: Final = {"playing": "PLAYING", "ended": "COMPLETED"}

LostHandler = Callable[[LiveSession], Awaitable[None]]
"""Told that this replica lost a session's lease (another replica took it)."""


class OwnerRole:
    """Plays the sessions owned by this replica; see the module's docstring."""

    def __init__(self, settings: Settings, cluster: PlaybackCluster, store: PlaybackStore, lost: LostHandler) -> None:
        self._settings = settings
        self._cluster = cluster
        self._store = store
        self._lost = lost
        self._lease_s = settings.playback_lease_s
        self._held: dict[uuid.UUID, LiveSession] = {}
        """Every session whose lease this replica holds, from the moment it is taken (even while still loading)."""

    async def own(self, live: LiveSession, lease: Lease) -> None:
        """Play the session here under ``lease``, from its owner's last checkpoint (or its row)."""
        live.lease, live.epoch = lease, lease.epoch
        self._held[live.session_id] = live
        checkpoint = await self._cluster.checkpoint(live.session_id)
        clock = live.clock
        if checkpoint is not None and (checkpoint.start, checkpoint.end) == (clock.start, clock.end):
            clock, live.tail = checkpoint.clock, checkpoint.sent_to
        settings = self._settings
        session = PlaybackSession(
            clock.start,
            clock.end,
            frame_interval_s=settings.frame_interval_ms / 1000,
            speed=clock.speed,
            max_buffered_events=settings.playback_buffer_events,
            read_ahead_s=settings.playback_read_ahead_s,
        )
        runner = PlaybackRunner(session, live.source, live, read_limit=min(READ_LIMIT, settings.playback_buffer_events))
        runner.timing.observe = metrics.frame_produced
        owner = Ownership(runner, followed=await self._cluster.followers(live.session_id) > 0)
        live.owner = owner
        owner.publisher = asyncio.create_task(
            self._publisher(live, owner, lease), name=f"msr:publish:{live.session_id}"
        )
        target = clock.end if clock.state == "ended" else clock.position_at(time.time())
        if live.everyone() or owner.followed:
            # Viewers are at the tail: bring them to where the clock is, frame by frame, with no gap in seq.
            target = await self._catch_up(live, clock, target)
            if live.owner is not owner:
                # Stopped while catching up (the lease was lost, or the session dropped): nothing is left to start.
                return
        elif target != live.tail:
            live.fan_reset(target)
        live.tail = target
        now = time.monotonic()
        if target != clock.start:
            session.seek(target, now)
        _restore_transport(session, clock, now)
        # A clock that reached its until while nobody played it stays paused there, as its owner would have.
        if clock.state == "playing" and target < clock.end and target != clock.until:
            skip = None if clock.skip_gaps is None else duration_micros(clock.skip_gaps)
            session.start(now, skip_gaps=skip)
        owner.saved_at = time.monotonic()
        # The next upkeep saves the clock under this lease's epoch: from then on a previous owner that wakes up
        # (frozen past its lease) cannot overwrite the row with its older clock.
        owner.dirty = True
        owner.task = asyncio.create_task(runner.run(), name=f"msr:playback:{live.session_id}")

    async def _catch_up(self, live: LiveSession, clock: ClockStatus, target: int) -> int:
        """Send frames from the tail to ``target`` (and to wherever a playing clock got meanwhile); the end."""
        for _ in range(3):
            while live.tail < target:
                batch = await live.source.events(live.tail, target, READ_LIMIT)
                live.frame(EncodedFrame.of(Frame(live.tail, batch.reached, tuple(batch.events), time.monotonic())))
            if clock.state != "playing":
                break
            later = clock.position_at(time.time())
            if later - target < clock.speed * self._settings.frame_interval_ms * 1000:
                break
            target = later
        return target

    async def apply(self, live: LiveSession, actor: str, command: Command) -> ClockStatus:
        """Apply a command to the clock of a session owned here; the engine's PlaybackError when refused."""
        owner = live.owner
        assert owner is not None
        runner = owner.runner
        details: dict[str, object]
        match command:
            case StartCommand(speed=speed, skip_gaps=skip_gaps):
                status = runner.start(speed, skip_gaps)
                action, details = "started", {"speed": status.speed}
                if skip_gaps is not None:
                    details["skip_gaps"] = {"min_s": skip_gaps}
            case StopCommand():
                status = runner.stop()
                action, details = "stopped", {"position": format_timestamp(status.position)}
            case SeekCommand(position=position):
                origin = format_timestamp(runner.status().position)
                status = runner.seek(position)
                action, details = "seeked", {"from": origin, "position": format_timestamp(status.position)}
            case SpeedCommand(speed=speed):
                status = runner.set_speed(speed)
                action, details = "speed_changed", {"speed": status.speed}
            case StepCommand(forward=forward, by_event=by_event):
                was = runner.status().position
                if by_event:
                    status = runner.step_to(await self._next_event(live, was, forward=forward))
                else:
                    status = runner.step(forward)
                action = "seeked"
                details = {"from": format_timestamp(was), "position": format_timestamp(status.position), "step": True}
            case LoopCommand(loop=loop):
                status = runner.set_loop(loop)
                action = "loop_changed"
                details = {"loop": None if loop is None else [format_timestamp(instant) for instant in loop]}
            case UntilCommand(at=at):
                status = runner.set_until(at)
                action, details = "until_changed", {"until": None if at is None else format_timestamp(at)}
        try:
            await self.save(live, status)
            await self._store.log_activity(live.session_id, live.tenant_id, actor, action, details)
        except StoreUnavailableError:
            # The command took effect; the clock is saved again by the next upkeep.
            owner.dirty = True
            _log.warning("could not record %s of session %s", action, live.session_id)
        return status

    async def _next_event(self, live: LiveSession, position: int, *, forward: bool) -> int:
        """The instant of the first event after ``position`` (or the last before it), clamped to the range."""
        clock = live.now()
        if forward:
            if position >= clock.end:
                return clock.end
            batch = await live.source.events(position, clock.end, 1)
            events = batch.events
            stamps = events.timestamps if isinstance(events, EventChunk) else [event.timestamp for event in events]
            return stamps[0] if stamps else clock.end
        if position <= clock.start:
            return clock.start
        previous = await self._store.previous_event(live.tenant_id, from_micros(clock.start), from_micros(position))
        return clock.start if previous is None else to_micros(previous)

    async def renew_all(self) -> list[LiveSession]:
        """Renew the leases of every session owned here in one round; the sessions whose lease another replica took.

        When Redis does not answer in a third of the lease, nothing is lost: the next round tries again.
        """
        owned = {i: live for i, live in self._held.items() if live.lease is not None}
        if not owned:
            return []
        leases = {session_id: live.lease for session_id, live in owned.items() if live.lease is not None}
        try:
            async with asyncio.timeout(self._lease_s / 3):
                renewals = await self._cluster.renew_all(leases)
        except (RedisError, OSError, TimeoutError):
            _log.warning("could not renew the playback leases of this replica; retrying at the next round")
            return []
        lost: list[LiveSession] = []
        for session_id, renewal in renewals.items():
            live = owned[session_id]
            if live.lease is not leases[session_id]:
                continue
            if not renewal.kept:
                lost.append(live)
            elif live.owner is not None:
                live.owner.followed = renewal.followers > 0
        return lost

    async def upkeep(self, live: LiveSession) -> None:
        """Save a playing clock every few seconds, and a changed one at once."""
        owner = live.owner
        if owner is None:
            return
        status = owner.runner.status()
        if owner.dirty or (status.state == "playing" and time.monotonic() - owner.saved_at >= SAVE_EVERY_S):
            await self.save(live, status)

    async def stop(self, live: LiveSession) -> None:
        """Stop playing here at once (the runner and the publisher); the lease is left to the caller."""
        owner, live.owner = live.owner, None
        if owner is None:
            return
        owner.unpublished.clear()
        owner.runner.close()
        for pending in (owner.task, owner.publisher):
            if pending is not None and pending is not asyncio.current_task():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending

    async def give_up(self, live: LiveSession, *, save: bool) -> None:
        """Stop playing and give the lease back (saving the clock first when asked), so another replica may own it."""
        lease, owner = live.lease, live.owner
        self.forget(live)
        if owner is not None:
            status = owner.runner.status()
            await self.stop(live)
            if save:
                try:
                    await self.save(live, status)
                except StoreUnavailableError:
                    _log.warning("could not save the clock of session %s", live.session_id)
                if lease is not None:
                    with contextlib.suppress(RedisError, OSError):
                        checkpoint = Checkpoint.of(live.epoch, status, live.tail)
                        await self._cluster.publish(live.session_id, lease, checkpoint=checkpoint, note=None)
        live.lease = None
        if lease is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._cluster.release(live.session_id, lease)

    def forget(self, live: LiveSession) -> None:
        """The session's lease is no longer this replica's to renew (given back, or taken by another replica)."""
        if self._held.get(live.session_id) is live:
            del self._held[live.session_id]

    async def save(self, live: LiveSession, status: ClockStatus) -> None:
        """Save the clock (and the record-and-replay status words) in PostgreSQL."""
        rnr_status = None
        if live.kind == "rnr":
            rnr_status = _RNR_STATUS.get(status.state)
            if status.state == "paused" and live.rnr_status not in (None, "INITIALIZED"):
                rnr_status = "PAUSED"
            live.rnr_status = rnr_status or live.rnr_status
        if live.owner is not None:
            live.owner.dirty = False
            live.owner.saved_at = time.monotonic()
        position = from_micros(status.position)
        if not await self._store.save_clock(
            live.session_id, live.epoch, status.state, status.speed, position, rnr_status
        ):
            # Fenced: a newer owner saved the clock (this replica's lease was taken, and its lease round will
            # say so), or the session ended. Either way the row is not this replica's to change.
            _log.warning(
                "the clock of session %s was not saved (epoch %d): it has a newer owner, or ended",
                live.session_id,
                live.epoch,
            )

    async def _publisher(self, live: LiveSession, owner: Ownership, lease: Lease) -> None:
        """Publish the owner's notes in order, fenced by its lease; a refused write ends the ownership."""
        while True:
            await owner.publishing.wait()
            owner.publishing.clear()
            while owner.unpublished:
                note, checkpoint = owner.unpublished.popleft()
                try:
                    kept = await self._cluster.publish(live.session_id, lease, checkpoint=checkpoint, note=note)
                except (RedisError, OSError):
                    # The lease round decides about ownership; this note is lost (followers resynchronise).
                    _log.warning("could not publish to the followers of session %s", live.session_id)
                    continue
                if not kept and not await self._still_held(live, lease):
                    asyncio.get_running_loop().call_soon(self._spawn_lost, live, lease)
                    return

    async def _still_held(self, live: LiveSession, lease: Lease) -> bool:
        """After a refused write: whether the lease is still ours (it had only expired, and nobody took it)."""
        try:
            renewals = await self._cluster.renew_all({live.session_id: lease})
        except (RedisError, OSError):
            return True
        return renewals[live.session_id].kept

    def _spawn_lost(self, live: LiveSession, lease: Lease) -> None:
        if live.lease is lease:
            task = asyncio.ensure_future(self._lost(live))
            task.add_done_callback(_log_failure)


def _restore_transport(session: PlaybackSession, clock: ClockStatus, now: float) -> None:
    """Keep the loop and the until of the last owner (its checkpoint's), when they still fit."""
    with contextlib.suppress(PlaybackError):
        if clock.loop is not None:
            session.set_loop(*clock.loop, now)
        if clock.until is not None:
            session.set_until(clock.until, now)


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error("playback coordination failed", exc_info=task.exception())
