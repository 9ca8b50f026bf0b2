"""The playback session: a pure state machine that says which frames are due at ``now``.

The caller (the runner) owns the I/O: it feeds the session batches of events, asks it when the next frame is
due, and publishes the frames it answers. The session guarantees:

- Frames are contiguous: the first ``from_`` is the range start (or the last seek target), each next
  ``from_`` is the previous ``to``, and a frame holds exactly the events of ``(from_, to]``, in
  ``(timestamp, seq)`` order.
- A frame is never early: its ``to`` is at most the clock position at its ``deadline``, and its deadline has
  passed. While playing, deadline *k* is ``anchor_wall + k * frame_interval`` on the monotonic clock, where
  the anchor is the last start or seek: lateness never accumulates, and a speed change keeps the cadence
  and shows in the next frame. A stop makes one last frame due at once, up to the stop position.
- A frame never covers history the session has not fully received: ``feed(events, after=, upto=)``
  declares ``(after, upto]`` complete, and frames stop at the complete horizon (the rest follows once fed,
  at once rather than at the next deadline).
- A caller that wakes late gets one frame up to the clock position at the latest passed deadline: missed
  deadlines are folded, not burst. A frame holds at most ``max_frame_events`` events (more only when one
  timestamp has more), so a long fold may come as a few frames at once.
- The last frame's ``to`` is exactly the range end, and the session is ENDED after it.

Transport (:meth:`PlaybackSession.step`, :meth:`~PlaybackSession.set_loop`, :meth:`~PlaybackSession.set_until`):
a step pauses and moves by one frame interval of event time at the current speed (a seek, clamped to the range);
a loop ``[a, b]`` caps frames at ``b`` and, when a playing session's frames reach ``b``, jumps back to ``a`` and
keeps playing (the caller takes the jump with :meth:`~PlaybackSession.take_jump` and resets its viewers to ``a``);
an until caps frames at its instant and pauses there exactly, once. The clock position reported is capped the same
way, so ``status`` never runs ahead of what a loop or an until will let frames show.

Skipping quiet time (``start(..., skip_gaps=)``): the caller feeds quiet stretches ``(last event, next event)`` of at
least the threshold (:meth:`~PlaybackSession.needs_gaps`, :meth:`~PlaybackSession.feed_gaps`, for the read-ahead
window only). Once frames have delivered a stretch's first edge, the next frame is an empty one flagged ``skipped``
up to one microsecond before the next event, and the clock jumps there and plays on: frames stay contiguous, so
viewers need no state. A skip never passes an event the session holds, nor a loop's end or an until. The setting
belongs to the playing start: a seek or a loop's jump keeps it; whatever pauses or ends playback drops it.

States: IDLE (never started), PLAYING, PAUSED, ENDED (the last frame reached the range end). Start takes
IDLE or PAUSED to PLAYING; stop takes PLAYING to PAUSED; a seek keeps the state, except that it takes ENDED
to PAUSED, and any state to ENDED when it goes to the very end. Start on a PLAYING session, stop on one that
is not playing, and start on an ENDED one (seek first) raise an :class:`~playback.errors.IllegalTransitionError`.

Frames carry no ``seq``: numbering is per viewer, in :mod:`playback.outbox`.
"""

from __future__ import annotations

import enum
import math
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from playback.clock import MICROS_PER_SECOND, PlaybackClock
from playback.errors import (
    AlreadyPlayingError,
    FeedError,
    NotPlayingError,
    PositionOutOfRangeError,
    SessionEndedError,
)
from playback.frames import ChangeEvent, Frame
from playback.instants import round_micros
from playback.raw import EventChunk, RawEvents


class PlaybackState(enum.Enum):
    """Where a session is in its life."""

    IDLE = "idle"
    PLAYING = "playing"
    PAUSED = "paused"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Loop:
    """A loop: playback that reaches ``end`` goes on from ``start``."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class DataRequest:
    """The events the session wants next: those of ``(after, upto]``."""

    after: int
    upto: int


class PlaybackSession:
    """One playback of the range ``[start, end]``: commands at an explicit ``now``, fed events, due frames."""

    def __init__(
        self,
        start: int,
        end: int,
        *,
        frame_interval_s: float = 0.1,
        speed: float = 1.0,
        max_buffered_events: int = 10_000,
        read_ahead_s: float = 5.0,
        max_frame_events: int = 5_000,
    ) -> None:
        """Create an IDLE session at ``start``.

        ``max_buffered_events`` and ``read_ahead_s`` bound the read-ahead: no more data is asked for once that
        many events wait, or once the buffer reaches ``read_ahead_s`` of wall time (at the current speed)
        beyond the position frames must reach; then not before it has fallen to half that. ``read_ahead_s`` must
        exceed ``frame_interval_s`` so that one frame's worth of history can be buffered.
        """
        if not frame_interval_s > 0:
            raise ValueError(f"frame_interval_s must be positive, got {frame_interval_s}")
        if not read_ahead_s > frame_interval_s:
            raise ValueError(
                f"read_ahead_s ({read_ahead_s}) must exceed frame_interval_s ({frame_interval_s}): "
                "raise it so that at least one frame of history can be read ahead"
            )
        if max_buffered_events < 1 or max_frame_events < 1:
            raise ValueError("max_buffered_events and max_frame_events must be at least 1")
        self._clock = PlaybackClock(start, end, speed=speed)
        self._interval = frame_interval_s
        self._max_buffered = max_buffered_events
        self._read_ahead_s = read_ahead_s
        self._max_frame_events = max_frame_events
        self._state = PlaybackState.IDLE
        # Fed events not yet framed: (chunk, lo, hi) for events lo to hi - 1 of each chunk, in order.
        self._buffer: deque[tuple[EventChunk, int, int]] = deque()
        self._buffered = 0
        self._sent_to = start
        self._covered_until = start
        # The position frames must reach: the clock at the latest passed deadline, or at a stop.
        self._target = start
        self._target_deadline = -math.inf
        self._schedule_anchor = -math.inf
        self._ticks = 0
        self._loop: Loop | None = None
        self._until: int | None = None
        # Where a loop last jumped back to, until the caller takes it; when frames at its end may jump back.
        self._jump: int | None = None
        self._wrap_after: float | None = None
        # Skipping quiet time: the threshold (None: off), the stretches known ahead, and how far they are known.
        self._skip: int | None = None
        self._gaps: deque[tuple[int, int]] = deque()
        self._gaps_until = start
        self._gaps_edge = start

    @property
    def state(self) -> PlaybackState:
        return self._state

    @property
    def start_position(self) -> int:
        """The start of the range."""
        return self._clock.start

    @property
    def end_position(self) -> int:
        """The end of the range."""
        return self._clock.end

    @property
    def speed(self) -> float:
        return self._clock.speed

    @property
    def sent_to(self) -> int:
        """The ``to`` of the last frame answered (or the start or seek position): where viewers are."""
        return self._sent_to

    @property
    def covered_until(self) -> int:
        """How far history has been fed completely."""
        return self._covered_until

    @property
    def buffered_events(self) -> int:
        """How many fed events wait for their frame."""
        return self._buffered

    @property
    def frame_interval_s(self) -> float:
        return self._interval

    @property
    def loop(self) -> Loop | None:
        """The loop set, if any."""
        return self._loop

    @property
    def until(self) -> int | None:
        """The instant at which playback will pause, if one is set."""
        return self._until

    @property
    def skip_gaps(self) -> int | None:
        """The quiet-stretch threshold in microseconds while skipping quiet time, else None."""
        return self._skip

    def position(self, now: float) -> int:
        """The playback clock's position at ``now`` (what ``status`` reports), capped at a pending loop end or until."""
        return min(self._clock.position(now), self._cap())

    # Commands.

    def start(self, now: float, speed: float | None = None, *, skip_gaps: int | None = None) -> None:
        """Play from the current position, optionally at a new speed; a frame is due every interval.

        ``skip_gaps`` (microseconds, positive) skips stretches with no events at least that long; None plays them.
        """
        if skip_gaps is not None and skip_gaps < 1:
            raise ValueError(f"skip_gaps must be a positive number of microseconds, got {skip_gaps}")
        if self._state is PlaybackState.ENDED:
            raise SessionEndedError("cannot start an ended session; seek first")
        if self._state is PlaybackState.PLAYING:
            raise AlreadyPlayingError("cannot start a playing session")
        if speed is not None:
            self._clock.set_speed(speed, now)
        self._clock.play(now)
        self._restart_schedule(now)
        self._state = PlaybackState.PLAYING
        self._skip = skip_gaps
        self._forget_gaps(self._sent_to)

    def stop(self, now: float) -> None:
        """Pause; one last frame, up to the position at ``now``, is due at once."""
        if self._state is not PlaybackState.PLAYING:
            article = "a" if self._state is PlaybackState.PAUSED else "an"
            raise NotPlayingError(f"cannot stop {article} {self._state.value} session")
        self._clock.pause(now)
        self._pin_to_cap(now)
        self._target = self._clock.position(now)
        self._target_deadline = now
        self._state = PlaybackState.PAUSED
        self._drop_skip()

    def seek(self, position: int, now: float) -> int:
        """Jump to ``position``, playing or not as before, and answer the position whose state viewers need.

        Buffered events are dropped and frames continue from ``position``: the caller must send viewers a
        fresh ``state`` at that position before them. A seek to the end of the range ends the session.
        """
        self._clock.seek(position, now)
        self._buffer.clear()
        self._buffered = 0
        self._sent_to = self._covered_until = self._target = position
        self._jump = None
        self._forget_gaps(position)
        if self._until is not None and position >= self._until:
            # An until behind the new position could never be reached: it is dropped rather than left stale.
            self._until = None
        if position == self._clock.end:
            self._end(now)
        elif self._state is PlaybackState.PLAYING:
            self._restart_schedule(now)
        elif self._state is PlaybackState.ENDED:
            self._state = PlaybackState.PAUSED
        return position

    def set_speed(self, speed: float, now: float) -> None:
        """Change the speed from ``now`` on, in any state; the frame cadence is kept."""
        self._advance(now)
        self._clock.set_speed(speed, now)

    def step_size(self) -> int:
        """One frame interval of event time at the current speed, in microseconds (at least one)."""
        return max(1, round_micros(self._interval * self._clock.speed * MICROS_PER_SECOND))

    def step(self, forward: bool, now: float) -> int:
        """Pause (if playing) and move one frame interval of event time, clamped to the range; the new position.

        Viewers need the state there, as after :meth:`seek`.
        """
        position = self.position(now)
        delta = self.step_size() if forward else -self.step_size()
        return self.step_to(min(self._clock.end, max(self._clock.start, position + delta)), now)

    def step_to(self, position: int, now: float) -> int:
        """Pause (if playing) and seek to ``position``: a step to an instant the caller found (the next event)."""
        if self._state is PlaybackState.PLAYING:
            self._clock.pause(now)
            self._state = PlaybackState.PAUSED
            self._drop_skip()
        return self.seek(position, now)

    def set_loop(self, start: int, end: int, now: float) -> None:
        """Loop over ``[start, end]`` (inside the range, ``start < end``) from ``now`` on."""
        if not self._clock.start <= start < end <= self._clock.end:
            raise PositionOutOfRangeError(
                f"a loop must satisfy {self._clock.start} <= from < to <= {self._clock.end}, got [{start}, {end}]"
            )
        self._advance(now)
        self._loop = Loop(start, end)

    def clear_loop(self, now: float) -> None:
        """Play on past the loop's end from now on."""
        self._advance(now)
        self._loop = None

    def set_until(self, at: int, now: float) -> None:
        """Pause exactly at ``at`` (later than the position now, at most the range end) when playback reaches it."""
        position = self.position(now)
        if not position < at <= self._clock.end:
            raise PositionOutOfRangeError(
                f"until must be after the position ({position}) and at most the range end ({self._clock.end}), got {at}"
            )
        self._advance(now)
        self._until = at

    def clear_until(self, now: float) -> None:
        """Forget the until: play on."""
        self._advance(now)
        self._until = None

    def take_jump(self) -> int | None:
        """Where a loop jumped back to since the last call (viewers need the state there), or None."""
        jump, self._jump = self._jump, None
        return jump

    # Data.

    def needs_data(self) -> DataRequest | None:
        """The next interval the caller should fetch and feed, or None while the read-ahead is full."""
        if self._state is PlaybackState.ENDED or self._buffered >= self._max_buffered:
            return None
        limit = self._read_ahead_limit()
        if self._covered_until >= min(limit, self._refill_below()):
            return None
        return DataRequest(self._covered_until, limit)

    def needs_gaps(self) -> DataRequest | None:
        """While skipping quiet time: the interval whose quiet stretches the caller should find and feed, or None.

        Asked for once the known stretches end within the read-ahead, for twice the read-ahead: one query per
        read-ahead of playback, not one per frame.
        """
        if self._skip is None or self._state is not PlaybackState.PLAYING:
            return None
        if self._gaps_until >= self._read_ahead_limit():
            return None
        return DataRequest(self._gaps_until, min(self._clock.end, self._target + 2 * self._ahead()))

    def feed_gaps(self, gaps: Iterable[tuple[int, int]], *, after: int, upto: int) -> bool:
        """Accept every quiet stretch that overlaps ``(after, upto]``: ``(last event, next event)`` pairs, in order.

        A stretch is an open interval with no event: its edges are event instants. One already known (it overlapped
        the previous interval too) is ignored. Answers False, and ignores them all, when ``after`` is not where the
        known stretches end (an answer to a request made before a seek).
        """
        if after != self._gaps_until:
            return False
        if not after < upto:
            raise FeedError(f"quiet stretches must be fed for an interval ending after {after}, got {upto}")
        for quiet_from, quiet_to in gaps:
            if not quiet_from < quiet_to:
                raise FeedError(f"quiet stretch ({quiet_from}, {quiet_to}) is empty")
            if quiet_to > self._gaps_edge and self._skip is not None and quiet_to - quiet_from >= self._skip:
                self._gaps.append((quiet_from, quiet_to))
                self._gaps_edge = quiet_to
        self._gaps_until = upto
        return True

    def feed(self, events: EventChunk | Iterable[ChangeEvent], *, after: int, upto: int) -> bool:
        """Accept the events of ``(after, upto]``, all of them, in ``(timestamp, seq)`` order.

        Answers False, and ignores the batch, when ``after`` is not where the fed history ends: an answer to
        a request made before a seek. ``upto`` may be short of what was requested. An :class:`EventChunk` (the
        store's encoded events) is taken as it is, its order trusted and only its first and last timestamps
        checked, so that feeding costs nothing per event; change events are checked one by one, then encoded.
        """
        if after != self._covered_until:
            return False
        if not after < upto <= self._clock.end:
            raise FeedError(f"a feed must end after {after} and at most at the range end, got {upto}")
        chunk = events if isinstance(events, EventChunk) else EventChunk.of(_checked(events, after, upto))
        stamps = chunk.timestamps
        if stamps and not after < stamps[0] <= stamps[-1] <= upto:
            raise FeedError(f"a chunk from {stamps[0]} to {stamps[-1]} is outside ({after}, {upto}]")
        if stamps:
            self._buffer.append((chunk, 0, len(stamps)))
            self._buffered += len(stamps)
        self._covered_until = upto
        return True

    # Frames.

    def frames_due(self, now: float) -> list[Frame]:
        """The frames due at ``now``, in order (usually none or one); the last one of the range ends it."""
        if self._state not in (PlaybackState.PLAYING, PlaybackState.PAUSED):
            return []
        self._advance(now)
        if not self._loop_wraps():
            self._wrap_after = None
        elif self._wrap_after is not None and now >= self._wrap_after:
            assert self._loop is not None
            self.seek(self._loop.start, now)
            self._jump = self._loop.start
            return []
        limit = min(self._target, self._covered_until, self._cap())
        frames: list[Frame] = []
        while self._sent_to < limit:
            frames.append(self._take_frame(limit))
        skip = self._skip_quiet(now)
        if skip is not None:
            frames.append(skip)
        if self._reached_until(now):
            pass
        elif self._loop_wraps():
            # The jump back waits for the next deadline: a jump drops the frames viewers have not been sent yet,
            # and the one that reached the loop's end must be seen first.
            if self._wrap_after is None:
                self._wrap_after = self._deadline(self._ticks + 1)
        elif self._sent_to == self._clock.end:
            self._end(now)
        return frames

    def next_deadline(self) -> float | None:
        """The wall time at which :meth:`frames_due` will next have a frame (it may be past).

        None when no frame will be due before a command or a feed.
        """
        if self._state not in (PlaybackState.PLAYING, PlaybackState.PAUSED):
            return None
        if self._sent_to < min(self._target, self._cap()) and self._covered_until > self._sent_to:
            return self._target_deadline
        if self._wrap_after is not None:
            return self._wrap_after
        if self._state is PlaybackState.PLAYING:
            return self._deadline(self._ticks + 1)
        return None

    # Internals.

    def _ahead(self) -> int:
        """The read-ahead in event time at the current speed (microseconds, at least one)."""
        return max(1, math.ceil(self._read_ahead_s * self._clock.speed * MICROS_PER_SECOND))

    def _read_ahead_limit(self) -> int:
        return min(self._cap(), self._target + self._ahead())

    def _refill_below(self) -> int:
        """Where covered history must fall before more is asked for, then up to the read-ahead limit.

        Half the read-ahead ahead of the frames (and never less than one frame's worth): one read per half
        read-ahead of playback, where a limit that moved with every frame asked for a frame's worth of events each
        time, a database round trip apiece.
        """
        frame = math.ceil(self._interval * self._clock.speed * MICROS_PER_SECOND)
        return self._target + max(self._ahead() // 2, min(frame, self._ahead()))

    def _drop_skip(self) -> None:
        """Playback paused or ended: the skip was the playing ``start``'s, and goes with it."""
        self._skip = None
        self._forget_gaps(self._sent_to)

    def _forget_gaps(self, position: int) -> None:
        self._gaps.clear()
        self._gaps_until = self._gaps_edge = position

    def _skip_quiet(self, now: float) -> Frame | None:
        """Once frames reached a quiet stretch's first edge: the frame that jumps to just before its next event."""
        if self._skip is None or self._state is not PlaybackState.PLAYING:
            return None
        gaps = self._gaps
        while gaps and gaps[0][1] - 1 <= self._sent_to:
            gaps.popleft()
        if not gaps or self._sent_to < gaps[0][0]:
            return None
        to = min(gaps[0][1] - 1, self._cap())
        if self._buffer:
            # Never past an event held here, whatever the stretch said (it may be older than the history fed).
            chunk, lo, _ = self._buffer[0]
            to = min(to, chunk.timestamps[lo] - 1)
        if to <= self._sent_to:
            return None
        frame = Frame(self._sent_to, to, RawEvents.join([]), now, skipped=True)
        self._sent_to = self._target = to
        self._covered_until = max(self._covered_until, to)
        self._gaps_until = max(self._gaps_until, to)
        self._clock.seek(to, now)
        self._restart_schedule(now)
        self._target_deadline = now
        return frame

    def _cap(self) -> int:
        """How far frames may go now: the range end, a pending until, and the end of a loop not yet passed."""
        cap = self._clock.end
        if self._until is not None:
            cap = min(cap, self._until)
        if self._loop is not None and self._sent_to <= self._loop.end:
            cap = min(cap, self._loop.end)
        return cap

    def _pin_to_cap(self, now: float) -> None:
        """Bring a paused clock that ran past the cap back to it (frames never went further)."""
        cap = self._cap()
        if self._clock.position(now) > cap:
            self._clock.seek(cap, now)

    def _reached_until(self, now: float) -> bool:
        """Whether playing frames reached an until, and so paused there (once); one at the range end just ends."""
        if self._state is not PlaybackState.PLAYING or self._sent_to != self._until or self._until == self._clock.end:
            return False
        self._until = None
        self._clock.pause(now)
        self._clock.seek(self._sent_to, now)
        self._target = self._sent_to
        self._state = PlaybackState.PAUSED
        self._drop_skip()
        return True

    def _loop_wraps(self) -> bool:
        """Whether playing frames are at the loop's end, to go on from its start (even at the range end)."""
        return self._state is PlaybackState.PLAYING and self._loop is not None and self._sent_to == self._loop.end

    def _take_frame(self, limit: int) -> Frame:
        """The next frame, up to ``limit`` or cut after ``max_frame_events`` at a timestamp boundary."""
        buffer = self._buffer
        taken: list[tuple[EventChunk, int, int]] = []
        count = 0
        to = limit
        while buffer:
            chunk, lo, hi = buffer[0]
            stamps = chunk.timestamps
            due = bisect_right(stamps, limit, lo, hi)  # events lo .. due - 1 are at or before limit
            if due == lo:
                break
            room = self._max_frame_events - count
            if due - lo > room:
                # Full: keep the events that share the last one's timestamp, and cut the frame there if any follow.
                last = stamps[lo + room - 1] if room > 0 else taken[-1][0].timestamps[taken[-1][2] - 1]
                cut = bisect_right(stamps, last, lo, due)
                if cut < due:
                    self._take(chunk, lo, cut, hi, taken)
                    to = last
                    break
            self._take(chunk, lo, due, hi, taken)
            count += due - lo
            if due < hi:
                break
        self._buffered -= sum(hi - lo for _, lo, hi in taken)
        frame = Frame(from_=self._sent_to, to=to, events=RawEvents.join(taken), deadline=self._target_deadline)
        self._sent_to = to
        return frame

    def _take(self, chunk: EventChunk, lo: int, upto: int, hi: int, taken: list[tuple[EventChunk, int, int]]) -> None:
        """Move events ``lo`` to ``upto - 1`` of the first buffered chunk (of ``lo`` to ``hi - 1``) to ``taken``."""
        if upto > lo:
            taken.append((chunk, lo, upto))
        if upto < hi:
            self._buffer[0] = (chunk, upto, hi)
        else:
            self._buffer.popleft()

    def _advance(self, now: float) -> None:
        """While playing, move the target to the clock position at the latest deadline not after ``now``."""
        if self._state is not PlaybackState.PLAYING or now < self._deadline(self._ticks + 1):
            return
        ticks = max(self._ticks + 1, int((now - self._schedule_anchor) // self._interval))
        # Float division can be off by one either way; settle on the exact latest deadline <= now.
        while self._deadline(ticks + 1) <= now:
            ticks += 1
        while ticks > self._ticks + 1 and self._deadline(ticks) > now:
            ticks -= 1
        self._ticks = ticks
        self._target_deadline = self._deadline(ticks)
        self._target = self._clock.position(self._target_deadline)

    def _deadline(self, tick: int) -> float:
        return self._schedule_anchor + tick * self._interval

    def _restart_schedule(self, now: float) -> None:
        self._schedule_anchor = now
        self._ticks = 0

    def _end(self, now: float) -> None:
        self._clock.pause(now)
        self._state = PlaybackState.ENDED
        self._until = None
        self._drop_skip()


def _checked(events: Iterable[ChangeEvent], after: int, upto: int) -> list[ChangeEvent]:
    """The events, once each is known to lie in ``(after, upto]`` and to follow the one before in order."""
    batch: list[ChangeEvent] = []
    last = (after, -math.inf)
    for event in events:
        order = (event.timestamp, event.seq)
        if not after < event.timestamp <= upto:
            raise FeedError(f"event seq {event.seq} at {event.timestamp} is outside ({after}, {upto}]")
        if order <= last:
            raise FeedError(f"event seq {event.seq} at {event.timestamp} is out of (timestamp, seq) order")
        batch.append(event)
        last = order
    return batch
