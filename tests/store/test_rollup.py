"""The histogram (SPEC section 7, /replay/histogram): rollup plus live counts equal a plain count of the events."""

import asyncio
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.rollup import bucket_start, histogram, refresh_rollup, rollup_state
from tests.store.model import BASE, TABLES, Ev

EXAMPLES = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
SPAN_MINUTES = 300

instants = st.builds(
    lambda seconds, micros: BASE + timedelta(seconds=seconds, microseconds=micros),
    st.integers(0, SPAN_MINUTES * 60),
    st.sampled_from([0, 0, 1, 999_999]),
)
event_lists = st.lists(st.tuples(st.sampled_from(TABLES), instants), max_size=60)


def reference(history, start, end, bucket, tables=None) -> dict:
    """Counts per (bucket start, table) of the events with start <= time < end."""
    return dict(
        Counter(
            (bucket_start(ts, bucket), table)
            for table, ts in history
            if start <= ts < end and (tables is None or table in tables)
        )
    )


def as_counts(buckets) -> dict:
    counts = {}
    for found in buckets:
        assert found.count == sum(found.tables.values())
        for table, count in found.tables.items():
            counts[(found.start, table)] = count
    return counts


async def forget_the_rollup(db):
    """Start from a rollup that never ran (hypothesis runs every example on the same database)."""
    async with db.connection() as conn:
        await conn.execute("DELETE FROM event_rollup; UPDATE event_rollup_state SET refreshed_until = NULL")


async def store(events_store, tenant, history):
    batch = [Ev(table, f"e{i}", "u", ts, f'{{"i": {i}}}').new(tenant) for i, (table, ts) in enumerate(history)]
    await events_store.ingest(batch)


@EXAMPLES
@given(
    history=event_lists,
    refresh_at=st.lists(st.tuples(instants, st.integers(0, 90)), max_size=3),
    bounds=st.tuples(instants, instants).filter(lambda b: b[0] != b[1]).map(sorted),
    bucket_minutes=st.sampled_from([1, 5, 7, 60]),
    tables=st.none() | st.sets(st.sampled_from(TABLES), min_size=1).map(tuple),
)
async def test_the_histogram_equals_a_plain_count_wherever_the_rollup_stops(
    db, events, history, refresh_at, bounds, bucket_minutes, tables
):
    tenant = uuid.uuid4()
    await forget_the_rollup(db)
    await store(events, tenant, history)
    for now, lag_minutes in sorted(refresh_at):
        await refresh_rollup(db, now, timedelta(minutes=lag_minutes))
    start, end = bounds
    bucket = timedelta(minutes=bucket_minutes)
    buckets = await histogram(db, tenant, start, end, bucket, tables)
    assert as_counts(buckets) == reference(history, start, end, bucket, tables)
    assert [b.start for b in buckets] == sorted(b.start for b in buckets)
    assert buckets[0].start <= start < buckets[0].start + bucket
    assert buckets[-1].start < end <= buckets[-1].start + bucket


async def test_refreshing_again_counts_nothing_twice_and_goes_on_from_where_it_stopped(db, events):
    tenant = uuid.uuid4()
    history = [(TABLES[i % 3], BASE + timedelta(seconds=37 * i)) for i in range(400)]
    await store(events, tenant, history)
    now = BASE + timedelta(hours=3)
    first = await refresh_rollup(db, now, timedelta(hours=1))
    assert first.refreshed_until == BASE + timedelta(hours=2)
    again = await refresh_rollup(db, now, timedelta(hours=1))
    assert again.refreshed_until == first.refreshed_until
    later = await refresh_rollup(db, now + timedelta(minutes=30, seconds=20), timedelta(hours=1))
    assert later.refreshed_until == BASE + timedelta(hours=2, minutes=30)
    whole = await histogram(db, tenant, BASE, BASE + timedelta(hours=5), timedelta(minutes=10))
    assert as_counts(whole) == reference(history, BASE, BASE + timedelta(hours=5), timedelta(minutes=10))


async def test_replicas_refreshing_at_once_count_each_minute_once(db, events):
    tenant = uuid.uuid4()
    history = [(TABLES[0], BASE + timedelta(minutes=3 * i, seconds=5)) for i in range(500)]
    await store(events, tenant, history)
    now = BASE + timedelta(days=3)
    await asyncio.gather(*(refresh_rollup(db, now, timedelta(0)) for _ in range(3)))
    assert (await rollup_state(db)).refreshed_until == now.replace(second=0, microsecond=0)
    async with db.connection() as conn:
        total = await conn.fetchval("SELECT sum(event_count) FROM event_rollup WHERE tenant_id = $1", tenant)
    assert total == len(history)
    buckets = await histogram(db, tenant, BASE, now, timedelta(hours=1))
    assert sum(b.count for b in buckets) == len(history)


async def test_a_long_backlog_is_rolled_up_a_day_at_a_time_with_progress(db, events):
    tenant = uuid.uuid4()
    history = [(TABLES[1], BASE + timedelta(hours=7 * i)) for i in range(20)]
    await store(events, tenant, history)
    seen = []

    async def report(progress):
        seen.append(progress)

    now = BASE + timedelta(days=6)
    await refresh_rollup(db, now, timedelta(days=1), report=report)
    assert len(seen) == 5
    assert seen == sorted(seen)
    assert seen[-1] == 1


async def test_nothing_stored_means_nothing_rolled_up_and_an_empty_histogram(db):
    state = await refresh_rollup(db, BASE, timedelta(days=1))
    assert state.refreshed_until is None
    buckets = await histogram(db, uuid.uuid4(), BASE, BASE + timedelta(hours=1), timedelta(minutes=15))
    assert [(b.start, b.count) for b in buckets] == [(BASE + timedelta(minutes=15 * i), 0) for i in range(4)]


async def test_a_tenant_never_counts_another_tenants_events(db, events):
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    await store(events, theirs, [(TABLES[0], BASE + timedelta(minutes=5))])
    await refresh_rollup(db, BASE + timedelta(hours=1), timedelta(0))
    buckets = await histogram(db, mine, BASE, BASE + timedelta(hours=1), timedelta(hours=1))
    assert [b.count for b in buckets] == [0]


@pytest.mark.parametrize(
    ("bucket", "span"),
    [
        (timedelta(seconds=30), timedelta(hours=1)),
        (timedelta(minutes=1, seconds=30), timedelta(hours=1)),
        (timedelta(minutes=1), timedelta(days=30)),
    ],
)
async def test_a_bucket_must_be_whole_minutes_and_the_range_not_too_many_buckets(db, bucket, span):
    with pytest.raises(ValueError):
        await histogram(db, uuid.uuid4(), BASE, BASE + span, bucket)


async def test_the_refreshed_part_comes_from_the_rollup_so_an_event_later_than_the_lag_is_not_counted(db, events):
    tenant = uuid.uuid4()
    await store(events, tenant, [(TABLES[0], BASE + timedelta(minutes=10))])
    await refresh_rollup(db, BASE + timedelta(hours=2), timedelta(hours=1))
    await store(events, tenant, [(TABLES[0], BASE + timedelta(minutes=20)), (TABLES[0], BASE + timedelta(minutes=90))])
    buckets = await histogram(db, tenant, BASE, BASE + timedelta(hours=2), timedelta(hours=1))
    # 00:20 arrived after its hour was rolled up; 01:30 is in the live part.
    assert [b.count for b in buckets] == [1, 1]
