"""A session live on this replica: its clock as known here, its viewers, and the fan-out of what it plays.

A :class:`LiveSession` exists on a replica while the session has viewers there or is played there. Its role is
either **owner** (:mod:`app.live.owner`: the runner, the lease, the publisher of notes, saving the clock) or
**follower** (:mod:`app.live.follower`: the owner's epoch, applying its notes). Either way each frame is encoded
once per replica and pushed to every viewer's bounded outbox; ``status`` and ``ended`` are encoded once too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Final

import msgspec

from app import metrics
from app.domain.sessions import Access
from app.live.cluster import Lease
from app.live.protocol import (
    Checkpoint,
    EndedNote,
    FrameNote,
    NoteEvent,
    ResetNote,
    SessionNote,
    StatusNote,
    encode_note,
)
from app.live.source import StoreEventSource
from playback.instants import format_timestamp
from playback.messages import Ended, LoopRange, MessageId, SkipGaps, Status, encode
from playback.outbox import EncodedFrame
from playback.ports import ClockStatus, StatePart
from playback.runner import PlaybackRunner, Viewer
from playback.viewport import FrameIndexCache

_MAX_UNPUBLISHED: Final = 256
SHARED_STATE_S: Final = 2.0
"""How long a state read for one viewer serves the others that ask for the same position (viewers attaching to a
paused session): a late event ingested meanwhile reaches them as it would have had they come a moment earlier."""
SHARED_STATE_BYTES: Final = 4 << 20
"""The largest state kept for sharing; a larger one is read for each viewer, streamed chunk by chunk."""
SHARED_STATE_WAIT_S: Final = 1.0
"""How long a viewer waits for another's read of its state (paced by that viewer's connection) before reading it."""


def status_message(status: ClockStatus, reply_to: MessageId | None = None) -> Status:
    """The ``status`` message of a clock."""
    loop = (
        None
        if status.loop is None
        else LoopRange(from_=format_timestamp(status.loop[0]), to=format_timestamp(status.loop[1]))
    )
    return Status(
        state=status.state,
        position=format_timestamp(status.position),
        speed=status.speed,
        reply_to=reply_to,
        loop=loop,
        until=None if status.until is None else format_timestamp(status.until),
        skip_gaps=None if status.skip_gaps is None else SkipGaps(min_s=status.skip_gaps),
    )


@dataclass(slots=True)
class Parked:
    """A viewer whose connection dropped, kept for a resume until ``until`` (monotonic)."""

    user_id: str
    until: float


@dataclass(slots=True, eq=False)
class SharedStateRead:
    """A read of the state at ``position`` whose parts serve the viewers that ask for it until ``until``."""

    position: int
    until: float
    parts: asyncio.Future[list[StatePart] | None]
    """The whole state once read; None when it was too large to keep, failed or was abandoned."""


@dataclass(slots=True)
class Attachment:
    """A viewer attached to a live session, with the ``hello`` to send it first."""

    live: LiveSession
    viewer: Viewer
    hello: bytes
    access: Access


@dataclass(slots=True)
class Ownership:
    """The owner role: what a replica holds while it plays the session."""

    runner: PlaybackRunner
    task: asyncio.Task[None] | None = None
    publisher: asyncio.Task[None] | None = None
    followed: bool = False
    """Whether another replica follows, so frames must be published."""
    unpublished: deque[tuple[bytes | None, Checkpoint | None]] = field(default_factory=deque)
    publishing: asyncio.Event = field(default_factory=asyncio.Event)
    saved_at: float = 0.0
    dirty: bool = False


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
    epoch: int = 0
    """The owner's epoch: this replica's when it owns the session, else the highest heard (older notes are ignored)."""
    lease: Lease | None = None
    """The lease held here, while the session is owned or being taken over."""
    owner: Ownership | None = None
    viewers: set[Viewer] = field(default_factory=set)
    parked: dict[Viewer, Parked] = field(default_factory=dict)
    ended_message: bytes | None = None
    taking_over: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while this replica takes the session over: the lease loop and a command may both try at once."""
    frame_indexes: FrameIndexCache = field(default_factory=FrameIndexCache)
    """The bounds of the latest frames' events, read once for all the viewers with a viewport."""
    shared_state: SharedStateRead | None = None
    """The latest state read, shared by the viewers asking for the same position (see :meth:`state`)."""

    @property
    def runner(self) -> PlaybackRunner | None:
        """The runner, when the session is owned here."""
        return None if self.owner is None else self.owner.runner

    def everyone(self) -> list[Viewer]:
        """Connected and parked viewers."""
        return [*self.viewers, *self.parked]

    def now(self) -> ClockStatus:
        """The clock now."""
        if self.owner is not None:
            return self.owner.runner.status()
        clock, wall = self.clock, time.time()
        return ClockStatus(clock.state, clock.position_at(wall), clock.speed, clock.start, clock.end, wall)

    async def state(self, position: int) -> AsyncGenerator[StatePart, None]:
        """The state at ``position`` for a viewer: read once for the viewers that ask for it at about the same time.

        Encoded once, the chunks are the same objects in every such viewer's resume history, never copies.
        """
        shared = self.shared_state
        if shared is not None and shared.position == position and time.monotonic() < shared.until:
            with contextlib.suppress(TimeoutError):
                # Shielded: a viewer that leaves while waiting must not cancel the read for the others.
                whole = await asyncio.wait_for(asyncio.shield(shared.parts), SHARED_STATE_WAIT_S)
                if whole is not None:
                    for part in whole:
                        yield part
                    return
        read = SharedStateRead(position, time.monotonic() + SHARED_STATE_S, asyncio.get_running_loop().create_future())
        self.shared_state = read
        kept: list[StatePart] | None = []
        size = 0
        try:
            async with contextlib.aclosing(self.source.state(position)) as read_parts:
                async for part in read_parts:
                    size += len(part.entities) if isinstance(part.entities, msgspec.Raw) else 0
                    if kept is not None:
                        kept.append(part)
                        if size > SHARED_STATE_BYTES:
                            kept = None
                    yield part
        except BaseException:
            kept = None
            raise
        finally:
            read.parts.set_result(kept)

    # The runner's sink: to the local viewers, and to the followers.

    def frame(self, frame: EncodedFrame) -> None:
        self.fan_frame(frame)
        if self.owner is not None and self.owner.followed:
            events = [NoteEvent.of(event) for event in frame.events]
            self._publish(FrameNote(self.epoch, frame.from_, frame.to, events, frame.skipped))

    def reset(self, position: int) -> None:
        self.fan_reset(position)
        self._publish(ResetNote(self.epoch, position))

    def status(self, status: ClockStatus) -> None:
        self.fan_status(status)
        self._publish(StatusNote(self.epoch, Checkpoint.of(self.epoch, status, self.tail)))

    def ended(self, position: int) -> None:
        self.fan_ended(position)
        self._publish(EndedNote(self.epoch, position))

    def _publish(self, note: SessionNote) -> None:
        owner = self.owner
        if owner is None:
            return
        if len(owner.unpublished) >= _MAX_UNPUBLISHED:
            # Redis is not keeping up: drop the oldest; a follower resynchronises at the next frame it gets.
            owner.unpublished.popleft()
        owner.unpublished.append((encode_note(note), Checkpoint.of(self.epoch, self.clock, self.tail)))
        owner.publishing.set()

    # Fan-out to the viewers of this replica.

    def fan_frame(self, frame: EncodedFrame) -> None:
        self.tail = frame.to
        viewers = self.everyone()
        for viewer in viewers:
            viewer.push(frame)
        metrics.frames_sent(len(frame.events), len(viewers))

    def fan_reset(self, position: int) -> None:
        self.tail = position
        self.ended_message = None
        for viewer in self.everyone():
            viewer.reset(position)

    def fan_status(self, status: ClockStatus) -> None:
        if self.owner is not None and (status.state, status.speed) != (self.clock.state, self.clock.speed):
            self.owner.dirty = True
        self.clock = status
        message = encode(status_message(status))
        for viewer in self.everyone():
            viewer.status(message)

    def fan_ended(self, position: int) -> None:
        self.ended_message = encode(Ended(position=format_timestamp(position)))
        for viewer in self.everyone():
            viewer.ended(self.ended_message)
