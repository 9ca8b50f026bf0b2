"""Retention (SPEC section 10): older data goes, the snapshot the oldest remaining instant needs stays, and every
answer from that instant on is unchanged."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.events import EventFilters
from store.jobs import JobCancelledError
from store.partitions import ensure_partitions, partition_name
from store.retention import Retention, retention_cutoff
from store.rollup import histogram, refresh_rollup
from tests.store.model import Ev, as_events, as_state, model_events, model_state, read_events, read_state, stored
from tests.store.test_event_model import filters, histories, instants, load, probe_instants

EXAMPLES = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
NO_FILTERS = EventFilters()
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)

full_checkpoints = st.lists(st.tuples(instants, st.just(())), max_size=3)
# Checkpoints of some tables only, taken after retention: the others then come from the kept full snapshot.
partial_checkpoints = st.lists(st.tuples(instants, st.sampled_from([("public.a",), ("public.a", "c")])), max_size=2)


@EXAMPLES
@given(
    batches=histories(),
    plan=full_checkpoints,
    late_from=st.integers(0, 5),
    cutoff=instants,
    reuse_within=st.sampled_from([timedelta(0), timedelta(minutes=7), timedelta(days=1)]),
    probes=st.lists(probe_instants, min_size=1, max_size=4),
    bounds=st.tuples(probe_instants, probe_instants).map(sorted),
    chosen=filters(),
    later=partial_checkpoints,
)
async def test_after_retention_state_and_events_from_the_kept_snapshot_on_equal_the_reference_model(
    db, events, snapshots, batches, plan, late_from, cutoff, reuse_within, probes, bounds, chosen, later
):
    tenant = uuid.uuid4()
    history = await load(events, snapshots, tenant, batches, plan, late_from)
    result = await Retention(db, reuse_within=reuse_within).apply(cutoff)
    kept = result.kept.get(tenant)
    if any(ev.ts <= cutoff for ev in stored(history)):
        assert kept is not None
        assert cutoff - reuse_within <= kept <= cutoff
        assert await events.earliest_instant(tenant) == kept
        assert await read_events(events, tenant, LONG_AGO, kept, NO_FILTERS) == []
        assert all(s.taken_at >= kept for s in await snapshots.snapshots(tenant))
    earliest = kept or LONG_AGO
    for instant, tables in later:
        if instant >= earliest:
            await snapshots.take_checkpoint(tenant, instant, tables)
    for at in probes:
        if at >= earliest:
            assert as_state(await read_state(events, tenant, at, chosen)) == model_state(history, at, chosen)
    start, end = bounds
    if start >= earliest:
        between = await read_events(events, tenant, start, end, chosen)
        assert as_events(between) == model_events(history, start, end, chosen)


def day(n: int) -> datetime:
    return datetime(2026, 2, 1, tzinfo=UTC) + timedelta(days=n)


def hourly_history(table: str, first: datetime, hours: int) -> list[Ev]:
    """An event every hour (and a second one at the same instant every fifth hour), entities cycling 0..6."""
    history = []
    for h in range(hours):
        at = first + timedelta(hours=h, minutes=17)
        op = "d" if h % 11 == 10 else "u" if h >= 7 else "c"
        history.append(Ev(table, str(h % 7), op, at, None if op == "d" else f'{{"h": {h}}}'))
        if h % 5 == 0:
            history.append(Ev(table, f"x{h % 3}", "u", at, f'{{"x": {h}}}'))
    return history


async def partitions(db) -> set[str]:
    async with db.connection() as conn:
        rows = await conn.fetch("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'events'::regclass")
    return {row[0] for row in rows}


async def test_whole_days_older_than_every_kept_snapshot_are_dropped_as_partitions(db, events, snapshots):
    await ensure_partitions(db, day(0).date(), day(4).date())
    first, second = uuid.uuid4(), uuid.uuid4()
    histories = {first: hourly_history("fleet.vehicles", day(0), 96), second: hourly_history("geo.zones", day(1), 60)}
    for tenant, history in histories.items():
        await events.ingest([ev.new(tenant) for ev in history])
    # The first tenant keeps a checkpoint in day 1 (reused: within a day of the cutoff); the second gets one at it.
    await snapshots.take_checkpoint(first, day(1) + timedelta(hours=6))
    cutoff = day(2) + timedelta(hours=5)
    result = await Retention(db, reuse_within=timedelta(days=1)).apply(cutoff)
    assert result.kept == {first: day(1) + timedelta(hours=6), second: cutoff}
    assert result.checkpoints_taken == 1
    assert result.partitions_dropped == [partition_name(date(2026, 2, 1))]
    assert partition_name(date(2026, 2, 1)) not in await partitions(db)
    assert partition_name(date(2026, 2, 2)) in await partitions(db)
    for tenant, history in histories.items():
        kept = result.kept[tenant]
        assert await events.earliest_instant(tenant) == kept
        assert await read_events(events, tenant, LONG_AGO, kept, NO_FILTERS) == []
        for at in (kept, kept + timedelta(minutes=17), day(2) + timedelta(hours=9), day(4)):
            assert as_state(await read_state(events, tenant, at, NO_FILTERS)) == model_state(history, at, NO_FILTERS)
        later = await read_events(events, tenant, kept, day(5), NO_FILTERS)
        assert as_events(later) == model_events(history, kept, day(5), NO_FILTERS)


async def test_running_retention_again_changes_nothing(db, events, snapshots):
    tenant = uuid.uuid4()
    history = hourly_history("ops.tasks", day(0), 30)
    await events.ingest([ev.new(tenant) for ev in history])
    cutoff = day(0) + timedelta(hours=20)
    first = await Retention(db).apply(cutoff)
    again = await Retention(db).apply(cutoff)
    assert first.kept == again.kept == {tenant: cutoff}
    assert (again.checkpoints_taken, again.events_deleted, again.snapshots_deleted) == (0, 0, 0)
    assert first.events_deleted == len([ev for ev in history if ev.ts <= cutoff])


async def test_a_tenant_with_nothing_older_than_the_cutoff_is_left_alone(db, events, snapshots):
    tenant = uuid.uuid4()
    history = hourly_history("ops.tasks", day(1), 10)
    await events.ingest([ev.new(tenant) for ev in history])
    result = await Retention(db).apply(day(1))
    assert result.kept == {}
    assert result.checkpoints_taken == 0
    assert len(await read_events(events, tenant, LONG_AGO, day(3), NO_FILTERS)) == len(history)


async def test_the_rollup_of_removed_minutes_is_removed_and_the_histogram_starts_at_the_kept_snapshot(
    db, events, snapshots
):
    tenant = uuid.uuid4()
    history = hourly_history("fleet.vehicles", day(0), 48)
    await events.ingest([ev.new(tenant) for ev in history])
    await refresh_rollup(db, day(2), timedelta(0))
    cutoff = day(1)
    await Retention(db).apply(cutoff)
    buckets = await histogram(db, tenant, day(0), day(2), timedelta(days=1))
    assert [b.count for b in buckets] == [0, len([ev for ev in history if ev.ts > cutoff])]


async def test_a_cancelled_run_stops_between_steps_and_the_next_run_finishes_it(db, events, snapshots):
    await ensure_partitions(db, day(0).date(), day(3).date())
    tenant = uuid.uuid4()
    history = hourly_history("fleet.vehicles", day(0), 72)
    await events.ingest([ev.new(tenant) for ev in history])
    cutoff = day(2) + timedelta(hours=3)
    reports = []

    async def cancel_after_two_steps(progress):
        reports.append(progress)
        if len(reports) == 2:
            raise JobCancelledError("cancelled")

    with pytest.raises(JobCancelledError):
        await Retention(db).apply(cutoff, report=cancel_after_two_steps)
    # Interrupted with old events still there: readers already start at the kept snapshot.
    assert await read_events(events, tenant, LONG_AGO, cutoff, NO_FILTERS) != []
    assert await events.earliest_instant(tenant) == cutoff
    result = await Retention(db).apply(cutoff)
    assert result.kept == {tenant: cutoff}
    assert await events.earliest_instant(tenant) == cutoff
    for at in (cutoff, day(2) + timedelta(hours=12), day(3)):
        assert as_state(await read_state(events, tenant, at, NO_FILTERS)) == model_state(history, at, NO_FILTERS)


def test_the_cutoff_is_the_playback_range_before_now_down_to_the_hour():
    now = datetime(2026, 3, 31, 14, 45, 12, tzinfo=UTC)
    assert retention_cutoff(now, 30) == datetime(2026, 3, 1, 14, tzinfo=UTC)
    with pytest.raises(ValueError):
        retention_cutoff(now, 0)
