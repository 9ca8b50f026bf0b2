"""The event-count rollup behind ``/replay/histogram``: per-minute counts per tenant and table, and the histogram.

:func:`refresh_rollup` counts the events of whole minutes into ``event_rollup`` up to ``now - lag``, going on from
where the previous refresh stopped (``event_rollup_state.refreshed_until``), one day per transaction. The
:func:`histogram` of a range reads the rollup for its whole minutes before ``refreshed_until`` and counts the rest
(the edges and the last ``lag``) live from ``events``, so its answer is exact for every event that was stored
before its minute was rolled up. An event that arrives later than ``lag`` after its own time lands in an
already-rolled-up minute and is not counted by the histogram (the state and events reads are not affected): the
same trade-off as a TimescaleDB continuous aggregate's refresh window.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from store import queries
from store.jobs import ProgressReport
from store.pool import Database

_Q = queries.load("rollup.sql")
_MINUTE = timedelta(minutes=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

REFRESH_STEP = timedelta(days=1)
"""Event time rolled up per transaction: bounds a refresh's transactions when there is a long backlog."""
MAX_BUCKETS = 10_000
"""Most buckets one histogram may have."""


def floor_minute(moment: datetime) -> datetime:
    """The whole minute at or before ``moment``."""
    return moment.replace(second=0, microsecond=0)


def ceil_minute(moment: datetime) -> datetime:
    """The whole minute at or after ``moment``."""
    floor = floor_minute(moment)
    return floor if floor == moment else floor + _MINUTE


def bucket_start(moment: datetime, bucket: timedelta) -> datetime:
    """The start of the bucket of size ``bucket`` holding ``moment`` (buckets are aligned on the Unix epoch)."""
    return moment - (moment - _EPOCH) % bucket


@dataclass(frozen=True, slots=True)
class RollupState:
    """How far the rollup is complete, and when it was last refreshed (None: never)."""

    refreshed_until: datetime | None
    refreshed_at: datetime | None


@dataclass(frozen=True, slots=True)
class HistogramBucket:
    """The events of ``[start, start + bucket)`` within the requested range: in all, and per table."""

    start: datetime
    count: int
    tables: dict[str, int] = field(default_factory=dict)


async def rollup_state(db: Database) -> RollupState:
    """The rollup's bookkeeping."""
    async with db.connection() as conn:
        row = await conn.fetchrow(_Q["rollup_state"])
    assert row is not None, "migration 0001 inserts the rollup state row"
    return RollupState(row["refreshed_until"], row["refreshed_at"])


async def refresh_rollup(
    db: Database, now: datetime, lag: timedelta, *, report: ProgressReport | None = None
) -> RollupState:
    """Roll up every whole minute before ``now - lag`` not rolled up yet; return the new state.

    Safe to call from several replicas at once: each step locks the bookkeeping row, so they take turns and
    none counts a minute twice. ``report`` (a job's progress callback) is called after each day.
    """
    if lag < timedelta(0):
        raise ValueError("lag must be >= 0")
    target = floor_minute(now - lag)
    first = (await rollup_state(db)).refreshed_until
    while True:
        async with db.connection() as conn, conn.transaction():
            row = await conn.fetchrow(_Q["lock_rollup_state"])
            assert row is not None
            start: datetime | None = row["refreshed_until"]
            if start is None:
                oldest: datetime | None = await conn.fetchval(_Q["oldest_event_time"])
                if oldest is None:
                    # Nothing stored yet: everything stays live, so a backfill is counted once it arrives.
                    return RollupState(None, row["refreshed_at"])
                start = first = floor_minute(oldest)
            if start >= target:
                return RollupState(start, row["refreshed_at"])
            end = min(target, start + REFRESH_STEP)
            await conn.execute(_Q["aggregate_minutes"], start, end)
            await conn.execute(_Q["set_refreshed_until"], end)
        if report is not None and first is not None:
            await report((end - first) / (target - first))


async def histogram(
    db: Database,
    tenant_id: uuid.UUID,
    start: datetime,
    end: datetime,
    bucket: timedelta,
    tables: Sequence[str] | None = None,
) -> list[HistogramBucket]:
    """Counts of the tenant's events with ``start <= event_timestamp < end`` per bucket, oldest first.

    ``bucket`` is a whole number of minutes (at least one); buckets are aligned on the Unix epoch, so the first
    and the last may be cut by the range. Every bucket of the range is listed, empty ones too, at most
    :data:`MAX_BUCKETS`. ``tables`` limits the counts to those tables (None: every table).
    """
    if bucket < _MINUTE or bucket % _MINUTE:
        raise ValueError("bucket must be a whole number of minutes, at least one")
    if end <= start:
        raise ValueError("end must be after start")
    first = bucket_start(start, bucket)
    count = -(-(end - first) // bucket)
    if count > MAX_BUCKETS:
        raise ValueError(f"the range holds {count} buckets; at most {MAX_BUCKETS} are allowed")
    refreshed_until = (await rollup_state(db)).refreshed_until
    rolled_from = ceil_minute(start)
    rolled_to = min(floor_minute(end), refreshed_until) if refreshed_until is not None else rolled_from
    if rolled_to <= rolled_from:
        # No whole rolled-up minute inside the range: count it all live.
        rolled_from = rolled_to = start
    async with db.read_connection() as conn:
        rows = await conn.fetch(
            _Q["histogram"],
            tenant_id,
            bucket,
            start,
            rolled_from,
            rolled_to,
            end,
            None if tables is None else list(tables),
        )
    buckets = [HistogramBucket(first + i * bucket, 0) for i in range(count)]
    for row in rows:
        found = buckets[(row["bucket_start"] - first) // bucket]
        found.tables[row["table_name"]] = row["event_count"]
    return [HistogramBucket(b.start, sum(b.tables.values()), b.tables) for b in buckets]


MAX_QUIET_STRETCHES = 1_000
"""Most quiet stretches one query answers."""


@dataclass(frozen=True, slots=True)
class QuietStretch:
    """A stretch with no event of the tenant: the open interval ``(after, before)``, ``before`` an event's instant.

    ``after`` is the latest event before it, or the start of the query when the tenant has no earlier event.
    """

    after: datetime
    before: datetime


async def quiet_stretches(
    db: Database, tenant_id: uuid.UUID, start: datetime, end: datetime, min_quiet: timedelta
) -> list[QuietStretch]:
    """The tenant's stretches with no event, at least ``min_quiet`` long, that overlap ``[start, end)``, oldest first.

    The rollup points at the candidates: the stretch holding ``start``, and runs of whole minutes it saw empty. A
    minute not rolled up yet is never taken for empty, and each stretch's edges are read from the events, so a
    stretch is never invented (an event that arrived after its minute was rolled up shortens it). Stretches are
    missed where the rollup lags, and may be when shorter than two minutes (they can hold no whole empty minute).
    At most :data:`MAX_QUIET_STRETCHES`.
    """
    if min_quiet <= timedelta(0):
        raise ValueError("min_quiet must be positive")
    if end <= start:
        raise ValueError("end must be after start")
    refreshed_until = (await rollup_state(db)).refreshed_until
    first = ceil_minute(start)
    last = min(ceil_minute(end), refreshed_until) if refreshed_until is not None else first
    # A stretch of n minutes holds at least n - 1 whole ones (less a part at each edge).
    run = max(_MINUTE, (min_quiet // _MINUTE - 1) * _MINUTE)
    async with db.read_connection() as conn:
        rows = await conn.fetch(
            _Q["quiet_stretches"], tenant_id, start, first, max(first, last), run, MAX_QUIET_STRETCHES
        )
    found: list[QuietStretch] = []
    for row in rows:
        before: datetime | None = row["next_after"]
        after: datetime = row["last_before"] or start
        if before is None or before <= start or after >= end or before - after < min_quiet:
            continue
        if not found or found[-1].before < before:
            found.append(QuietStretch(after, before))
    return found


async def forget_rollup_before(db: Database, tenant_id: uuid.UUID, before: datetime) -> int:
    """Delete the tenant's rollup minutes that end at or before ``before`` (retention removed their events)."""
    async with db.connection() as conn:
        deleted: int = await conn.fetchval(_Q["delete_rollup_before"], tenant_id, before)
    return deleted
