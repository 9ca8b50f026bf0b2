"""Instants, defined once: integer microseconds since the Unix epoch in the engine, RFC3339 with a ``Z`` on the wire.

One rounding rule for clock arithmetic (:func:`round_micros`: halves away from zero's floor, ``floor(x + 0.5)``), so
that a clock and a status computed from it agree to the microsecond.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND: Final = timedelta(microseconds=1)
MICROS_PER_SECOND: Final = 1_000_000


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch of a timezone-aware instant."""
    return (moment - EPOCH) // ONE_MICROSECOND


def from_micros(micros: int) -> datetime:
    """The instant ``micros`` microseconds after the epoch, in UTC."""
    return EPOCH + timedelta(microseconds=micros)


def format_timestamp(micros: int) -> str:
    """RFC3339 in UTC with a ``Z``; fractional seconds only when there are some (as the REST API)."""
    moment = from_micros(micros)
    timespec = "microseconds" if moment.microsecond else "seconds"
    return moment.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def round_micros(micros: float) -> int:
    """The whole microsecond nearest to ``micros`` (a half goes up), the clock's one rounding rule."""
    return math.floor(micros + 0.5)


def duration_micros(seconds: float) -> int:
    """A positive duration in seconds as whole microseconds (at least one)."""
    return max(1, round_micros(seconds * MICROS_PER_SECOND))
