"""The engine's only async module: the loop that plays a session in real time, and the pump that feeds a viewer.

:class:`PlaybackRunner` owns one :class:`~playback.session.PlaybackSession`. It sleeps until the next frame is due
(or a command, or read-ahead data, wakes it), reads ahead from an :class:`~playback.ports.EventSource` one bounded
batch at a time, encodes each due frame once and hands it to a :class:`~playback.ports.PlaybackSink`, reports the
clock after every command and about once a second, and says when the range has ended. It measures how late every
frame is. Commands are plain methods, applied at once at the current monotonic time.

:class:`Viewer` is one viewer's side: its bounded :class:`~playback.outbox.ViewerOutbox`, the few messages that
bypass it (``status``, replies, errors, ``ended``), and :meth:`Viewer.pump`, which sends them over the viewer's own
connection at the connection's own pace, streaming a state chunk by chunk whenever the outbox asks for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass

from playback.frames import Frame
from playback.instants import MICROS_PER_SECOND, duration_micros
from playback.messages import PlayState
from playback.outbox import EncodedFrame, StateChunk, StateNeeded, ViewerOutbox
from playback.ports import ClockStatus, EventBatch, EventSource, PlaybackSink, StatePart
from playback.raw import EventChunk, RawEvents
from playback.session import DataRequest, PlaybackSession, PlaybackState

_log = logging.getLogger("msr.playback")

_PLAY_STATES: dict[PlaybackState, PlayState] = {
    PlaybackState.IDLE: "paused",
    PlaybackState.PAUSED: "paused",
    PlaybackState.PLAYING: "playing",
    PlaybackState.ENDED: "ended",
}


@dataclass(slots=True)
class FrameTiming:
    """How late frames were sent after they were due (seconds): count, total and worst."""

    frames: int = 0
    total_lateness_s: float = 0.0
    max_lateness_s: float = 0.0
    observe: Callable[[float], None] | None = None
    """Told each frame's lateness too (the app's metrics), when set."""

    def record(self, lateness_s: float) -> None:
        self.frames += 1
        self.total_lateness_s += lateness_s
        self.max_lateness_s = max(self.max_lateness_s, lateness_s)
        if self.observe is not None:
            self.observe(lateness_s)


class PlaybackRunner:
    """Plays one session: commands at the current time, frames when due, read-ahead in bounded batches."""

    def __init__(
        self,
        session: PlaybackSession,
        source: EventSource,
        sink: PlaybackSink,
        *,
        read_limit: int = 2000,
        status_interval_s: float = 1.0,
        retry_delay_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """A runner for ``session``; nothing happens until :meth:`run` is awaited (commands work before)."""
        if read_limit < 1:
            raise ValueError(f"read_limit must be at least 1, got {read_limit}")
        self._session = session
        self._source = source
        self._sink = sink
        self._read_limit = read_limit
        self._status_interval = status_interval_s
        self._retry_delay = retry_delay_s
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._wake = asyncio.Event()
        self._fetch: asyncio.Task[EventBatch | Sequence[tuple[int, int]]] | None = None
        self._fetch_request: DataRequest | None = None
        self._retry_at = -math.inf
        self._next_status = -math.inf
        self._closed = False
        self._ended_reported = session.state is PlaybackState.ENDED
        self._was_playing = False
        self.timing = FrameTiming()
        """Lateness of the frames sent so far."""

    @property
    def sent_to(self) -> int:
        """Where the frames sent so far end: where a new viewer's frames start."""
        return self._session.sent_to

    @property
    def playing(self) -> bool:
        return self._session.state is PlaybackState.PLAYING

    def status(self) -> ClockStatus:
        """The clock now."""
        session = self._session
        return ClockStatus(
            state=_PLAY_STATES[session.state],
            position=session.position(self._monotonic()),
            speed=session.speed,
            start=session.start_position,
            end=session.end_position,
            wall_time=self._wall_clock(),
            loop=None if session.loop is None else (session.loop.start, session.loop.end),
            until=session.until,
            skip_gaps=None if session.skip_gaps is None else session.skip_gaps / MICROS_PER_SECOND,
        )

    # Commands: each raises a PlaybackError (playback.errors) when refused, and answers the clock after it.

    def start(self, speed: float | None = None, skip_gaps_s: float | None = None) -> ClockStatus:
        """Play from the current position, optionally at a new speed, skipping quiet stretches over ``skip_gaps_s``."""
        skip = None if skip_gaps_s is None else duration_micros(skip_gaps_s)
        self._session.start(self._monotonic(), speed, skip_gaps=skip)
        return self._changed()

    def stop(self) -> ClockStatus:
        """Pause; viewers get the frame up to the stop position."""
        self._session.stop(self._monotonic())
        return self._changed()

    def seek(self, position: int) -> ClockStatus:
        """Jump to ``position``; every viewer gets the state there, then frames continue from it."""
        return self._jumped(self._session.seek(position, self._monotonic()))

    def set_speed(self, speed: float) -> ClockStatus:
        """Change the speed from now on, playing or not."""
        self._session.set_speed(speed, self._monotonic())
        return self._changed()

    def step(self, forward: bool) -> ClockStatus:
        """Pause and move one frame interval of event time; viewers get the state (or the diff) there."""
        return self._jumped(self._session.step(forward, self._monotonic()))

    def step_to(self, position: int) -> ClockStatus:
        """Pause and move to ``position`` (the next or previous event); viewers get the state there."""
        return self._jumped(self._session.step_to(position, self._monotonic()))

    def set_loop(self, loop: tuple[int, int] | None) -> ClockStatus:
        """Loop over ``[from, to]`` from now on, or stop looping (None)."""
        if loop is None:
            self._session.clear_loop(self._monotonic())
        else:
            self._session.set_loop(*loop, self._monotonic())
        return self._changed()

    def set_until(self, at: int | None) -> ClockStatus:
        """Pause exactly at ``at`` when playback reaches it, or forget a pending until (None)."""
        if at is None:
            self._session.clear_until(self._monotonic())
        else:
            self._session.set_until(at, self._monotonic())
        return self._changed()

    def close(self) -> None:
        """Make :meth:`run` return (the clock keeps its state; see :meth:`status`)."""
        self._closed = True
        self._wake.set()

    # The loop.

    async def run(self) -> None:
        """Play until :meth:`close`; cancelling works too. The read in flight, if any, is cancelled and awaited."""
        try:
            while not self._closed:
                self._wake.clear()
                now = self._monotonic()
                self._collect_fetch()
                self._emit(now)
                self._start_fetch(now)
                if now >= self._next_status:
                    self._report()
                delay = self._wake_at() - self._monotonic()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._wake.wait()
        finally:
            if self._fetch is not None:
                self._fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._fetch
                self._fetch = None

    def _wake_at(self) -> float:
        moments = [self._next_status]
        deadline = self._session.next_deadline()
        if deadline is not None:
            moments.append(deadline)
        if self._fetch is None and self._retry_at > self._monotonic():
            moments.append(self._retry_at)
        return min(moments)

    def _emit(self, now: float) -> None:
        session = self._session
        skipped = False
        for frame in session.frames_due(now):
            self.timing.record(max(0.0, self._monotonic() - frame.deadline))
            self._sink.frame(EncodedFrame.of(frame))
            skipped = skipped or frame.skipped
        jump = session.take_jump()
        if skipped:
            # The clock jumped over a quiet stretch: everyone needs to know where it is.
            self._report()
        if jump is not None:
            # A loop wrapped: viewers need the state at its start, and everyone the clock.
            self._sink.reset(jump)
            self._report()
        elif session.state is PlaybackState.PAUSED and self._was_playing:
            # An until paused playback: say so at once.
            self._report()
        self._was_playing = session.state is PlaybackState.PLAYING
        if session.state is PlaybackState.ENDED and not self._ended_reported:
            self._ended_reported = True
            self._sink.ended(session.sent_to)
            self._report()

    def _start_fetch(self, now: float) -> None:
        if self._fetch is not None or now < self._retry_at:
            return
        fetch: Coroutine[object, object, EventBatch | Sequence[tuple[int, int]]]
        # Quiet stretches first: a skip must be known before frames reach it.
        request, skip = self._session.needs_gaps(), self._session.skip_gaps
        if request is not None and skip is not None:
            fetch = self._source.quiet_stretches(request.after, request.upto, skip)
        else:
            request = self._session.needs_data()
            if request is None:
                return
            fetch = self._source.events(request.after, request.upto, self._read_limit)
        self._fetch_request = request
        self._fetch = asyncio.create_task(fetch)
        self._fetch.add_done_callback(lambda _task: self._wake.set())

    def _collect_fetch(self) -> None:
        task, request = self._fetch, self._fetch_request
        if task is None or request is None or not task.done():
            return
        self._fetch = self._fetch_request = None
        try:
            batch = task.result()
        except Exception:
            # The source is outside the engine (a database): whatever it raised, playback waits and reads again.
            _log.warning("read-ahead failed; retrying in %.1f s", self._retry_delay, exc_info=True)
            self._retry_at = self._monotonic() + self._retry_delay
            return
        # False means a seek made the answer stale; the next request starts at the new position.
        if isinstance(batch, EventBatch):
            self._session.feed(batch.events, after=request.after, upto=batch.reached)
        else:
            self._session.feed_gaps(batch, after=request.after, upto=request.upto)

    def _jumped(self, target: int) -> ClockStatus:
        self._ended_reported = False
        self._sink.reset(target)
        return self._changed()

    def _changed(self) -> ClockStatus:
        self._was_playing = self.playing
        self._wake.set()
        return self._report()

    def _report(self) -> ClockStatus:
        status = self.status()
        self._sink.status(status)
        self._next_status = self._monotonic() + self._status_interval
        return status


StateReader = Callable[[int], AsyncGenerator[StatePart, None]]
"""Reads the state at a position in chunks (:meth:`playback.ports.EventSource.state`)."""
DiffReader = Callable[[int, int], Awaitable[EventChunk]]
"""Reads the net change from one position to another (:meth:`playback.ports.EventSource.seek_diff`)."""
Send = Callable[[bytes], Awaitable[None]]
"""Sends one text message over the viewer's connection, waiting while the connection is congested."""


class Viewer:
    """One viewer: its outbox, the messages that bypass it, and the pump that sends everything.

    ``status`` messages replace each other (only the latest matters); replies and errors queue, boundedly;
    ``ended`` goes out once the outbox has nothing older to send. The viewer outlives a connection: after a drop
    it keeps receiving frames (within its outbox's bounds) until it is resumed or given up.
    """

    # Thousands of idle viewers per replica: slots, and the queues of notices and resent messages are made when needed.
    # Weak references: the live wing keys what it knows of a viewer by it.
    __slots__ = (
        "__weakref__",
        "_closing",
        "_ended",
        "_max_notices",
        "_notices",
        "_replay",
        "_status",
        "_waiting",
        "outbox",
    )

    def __init__(self, outbox: ViewerOutbox, *, max_notices: int = 32) -> None:
        self.outbox = outbox
        self._max_notices = max_notices
        self._notices: deque[bytes] | None = None
        self._status: bytes | None = None
        self._ended: bytes | None = None
        self._replay: deque[bytes] | None = None
        self._closing: tuple[int, str] | None = None
        # Made only while the pump waits (an Event would cost an idle viewer its dict and a deque of waiters).
        self._waiting: asyncio.Future[None] | None = None

    @property
    def closing(self) -> tuple[int, str] | None:
        """The close code and reason asked for, if any."""
        return self._closing

    def push(self, frame: EncodedFrame) -> None:
        """Queue the session's next frame."""
        try:
            self.outbox.push(frame)
        except ValueError:
            # The frame does not continue this viewer's frames (frames from another replica were lost on the
            # way): resynchronise with the state where the frame starts, then go on.
            self.outbox.reset(frame.from_)
            self.outbox.push(frame)
        self._wake()

    def reset(self, position: int) -> None:
        """Playback jumped: the state at ``position`` comes next, or the diff to it when it is near."""
        self.outbox.seek(position)
        self._ended = None
        self._wake()

    def status(self, message: bytes) -> None:
        """The latest ``status`` message (replaces one not sent yet)."""
        self._status = message
        self._wake()

    def notice(self, message: bytes) -> None:
        """A reply or an error for this viewer alone (the oldest is dropped past the bound)."""
        if self._notices is None:
            self._notices = deque(maxlen=self._max_notices)
        self._notices.append(message)
        self._wake()

    def ended(self, message: bytes) -> None:
        """The ``ended`` message, sent after every frame queued before it."""
        self._ended = message
        self._wake()

    def close(self, code: int, reason: str) -> None:
        """Ask the pump to stop after the message it is sending and the pending notices; then close with ``code``."""
        self._closing = (code, reason)
        self._wake()

    def resume(self, seq: int) -> bool:
        """The client applied up to ``seq`` (after a reconnect): True when the history bridged the gap.

        Otherwise a fresh state, numbered right after ``seq``, comes first. Call it before :meth:`pump` runs.
        """
        again = self.outbox.resume(seq)
        if again is None:
            return False
        if self._replay is None:
            self._replay = deque()
        self._replay.extend(again)
        self._wake()
        return True

    async def pump(self, send: Send, states: StateReader, diffs: DiffReader | None = None) -> tuple[int, str]:
        """Send the viewer's messages until :meth:`close`; answers the close code and reason.

        Without ``diffs``, a diff-seek is answered with the full state.
        """
        while True:
            if self._closing is not None:
                # The errors that explain the close go first.
                while self._notices:
                    await send(self._notices.popleft())
                self._notices = None
                return self._closing
            message = self._next()
            if isinstance(message, StateNeeded) and message.since is not None and diffs is not None:
                await self._send_diff(message, message.since, send, diffs)
            elif isinstance(message, StateNeeded):
                await self._stream_state(message, send, states)
            elif message is not None:
                await send(message)
            else:
                # Nothing was awaited since _next() found nothing, so no wake-up can have been missed.
                self._waiting = asyncio.get_running_loop().create_future()
                try:
                    await self._waiting
                finally:
                    self._waiting = None

    def _wake(self) -> None:
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_result(None)

    def _next(self) -> bytes | StateNeeded | None:
        if self._replay:
            return self._replay.popleft()
        self._replay = None
        if self._notices:
            return self._notices.popleft()
        self._notices = None
        if self._status is not None:
            message, self._status = self._status, None
            return message
        item = self.outbox.next_message()
        if item is None and self._ended is not None:
            item, self._ended = self._ended, None
        return item

    async def _stream_state(self, request: StateNeeded, send: Send, states: StateReader) -> None:
        async with contextlib.aclosing(states(request.position)) as parts:
            chunk = 0
            async for part in parts:
                chunk += 1
                message = self.outbox.state_message(
                    request, StateChunk.of(request.position, part.entities, chunk=chunk, chunks=part.chunks)
                )
                if message is None:
                    # A seek or a resync replaced this state while it was being sent.
                    return
                await send(message)

    async def _send_diff(self, request: StateNeeded, since: int, send: Send, diffs: DiffReader) -> None:
        changes = await diffs(since, request.position)
        frame = EncodedFrame.of(
            Frame(since, request.position, RawEvents.join([(changes, 0, len(changes))]), 0.0), seek=True
        )
        message = self.outbox.seek_message(request, frame)
        if message is not None:
            await send(message)
