"""The playback clock: where in history playback is, as pure arithmetic on a monotonic ``now``.

While playing, ``position(now) = anchor_position + (now - anchor_wall) * speed``, clamped to the end of
the range; while paused it is frozen. Every command re-anchors. The anchor position is an integer of
microseconds plus the sub-microsecond remainder carried over from the last re-anchor, and the elapsed wall
time is converted once per query from the anchor: nothing accumulates, however long playback runs and
however many commands it gets. Positions are rounded to the nearest microsecond, so that float wall times
(``10.1 - 10.0`` is a hair under ``0.1``) still give round positions, and they never decrease while playing.
``now`` is always passed in and must never decrease.
"""

from __future__ import annotations

import math
from typing import Final

from playback import instants
from playback.errors import InvalidSpeedError, PositionOutOfRangeError, TimeWentBackwardsError
from playback.instants import round_micros

MIN_SPEED: Final = 0.1
MAX_SPEED: Final = 1000.0
MICROS_PER_SECOND: Final = instants.MICROS_PER_SECOND
# The anchor's remainder is kept in [-0.5, _BELOW_HALF] so that the position at the re-anchor instant
# rounds to the anchor itself, whatever the float rounding of the remainder.
_BELOW_HALF: Final = 0.5 - 1e-9


def check_speed(speed: float) -> float:
    """The speed itself when it is within ``MIN_SPEED..MAX_SPEED``, else :class:`InvalidSpeedError`."""
    # Written so that NaN fails too.
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise InvalidSpeedError(f"speed must be between {MIN_SPEED:g} and {MAX_SPEED:g}, got {speed:g}")
    return speed


class PlaybackClock:
    """A position in ``[start, end]`` that advances at ``speed`` times wall time while running."""

    __slots__ = ("_anchor_fraction", "_anchor_position", "_anchor_wall", "_end", "_running", "_speed", "_start")

    def __init__(self, start: int, end: int, *, speed: float = 1.0) -> None:
        if start >= end:
            raise ValueError(f"the range is empty: start ({start}) must be before end ({end})")
        self._start = start
        self._end = end
        self._speed = check_speed(speed)
        self._running = False
        self._anchor_position = start
        # The sub-microsecond part of the anchor position: kept so that re-anchors lose nothing.
        self._anchor_fraction = 0.0
        self._anchor_wall = -math.inf

    @property
    def start(self) -> int:
        return self._start

    @property
    def end(self) -> int:
        return self._end

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def running(self) -> bool:
        return self._running

    def position(self, now: float) -> int:
        """The position at wall time ``now``."""
        self._check_time(now)
        if not self._running:
            return self._anchor_position
        return min(self._end, self._anchor_position + round_micros(self._advance(now)))

    def play(self, now: float) -> None:
        """Run from the current position."""
        self._reanchor(now)
        self._running = True

    def pause(self, now: float) -> None:
        """Freeze at the current position."""
        self._reanchor(now)
        self._running = False

    def seek(self, position: int, now: float) -> None:
        """Jump to ``position``, running or not as before."""
        if not self._start <= position <= self._end:
            raise PositionOutOfRangeError(
                f"position {position} is outside the playback range [{self._start}, {self._end}]"
            )
        self._check_time(now)
        self._anchor_position = position
        self._anchor_fraction = 0.0
        self._anchor_wall = now

    def set_speed(self, speed: float, now: float) -> None:
        """Change the speed from ``now`` on; the position so far is kept."""
        check_speed(speed)
        self._reanchor(now)
        self._speed = speed

    def _advance(self, now: float) -> float:
        """Microseconds travelled since the anchor's integer position, remainder included."""
        return self._anchor_fraction + (now - self._anchor_wall) * self._speed * MICROS_PER_SECOND

    def _reanchor(self, now: float) -> None:
        """Move the anchor to ``now`` without moving the position."""
        self._check_time(now)
        if self._running:
            advanced = self._advance(now)
            whole = round_micros(advanced)
            if self._anchor_position + whole >= self._end:
                self._anchor_position, self._anchor_fraction = self._end, 0.0
            else:
                self._anchor_position += whole
                self._anchor_fraction = min(max(advanced - whole, -0.5), _BELOW_HALF)
        self._anchor_wall = now

    def _check_time(self, now: float) -> None:
        if now < self._anchor_wall:
            raise TimeWentBackwardsError(f"now ({now}) is before the last command ({self._anchor_wall})")
