"""Source transactions and truncates against the reference model (SPEC sections 5 and 6), on random histories.

A transaction's events share one instant (its first event's), even when it spans several batches; no state, page
of /replay/events or playback read-ahead batch ever splits it. A truncate deletes, at its instant, every entity of
its table that exists then; a retried one is a duplicate.
"""

import asyncio
import itertools
import uuid
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.paging import EventPage
from app.live.source import StoreEventSource
from playback.instants import to_micros
from store.events import EventFilters
from store.playback import PlaybackStore
from store.retention import Retention
from tests.store.model import (
    TABLES,
    Ev,
    as_events,
    as_state,
    at_minute,
    model_events,
    model_state,
    read_events,
    read_state,
    stored,
)
from tests.store.test_event_model import checkpoint_plans, load

MINUTES = 20
EXAMPLES = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
instants = st.builds(at_minute, st.integers(0, MINUTES), st.sampled_from([0, 0, 1, 999_999]))
probe_instants = st.builds(at_minute, st.integers(-1, MINUTES + 1), st.sampled_from([0, 0, 1, 500_000]))
entities = st.sampled_from(("1", "2", "3"))


@st.composite
def units(draw, number: int) -> list[Ev]:
    """A lone change, a truncate, or a transaction of 2-5 changes (and maybe a truncate) at times that may differ."""
    kind = draw(st.sampled_from(("change", "change", "truncate", "transaction", "transaction")))
    table = draw(st.sampled_from(TABLES))
    if kind == "truncate":
        return [Ev(table, "", "t", draw(instants), None, draw(st.sampled_from(("", "lsn=1"))))]
    txn = f"tx-{number}" if kind == "transaction" else ""
    size = draw(st.integers(2, 5)) if txn else 1
    unit = []
    for index in range(size):
        if txn and draw(st.integers(0, 6)) == 0:
            unit.append(Ev(draw(st.sampled_from(TABLES)), "", "t", draw(instants), None, f"{txn}:{index}", txn))
            continue
        op = draw(st.sampled_from("cuurd"))
        state = None if op == "d" else f'{{"v": "{number}.{index}"}}'
        event_id = f"{txn}:{index}" if txn else draw(st.sampled_from(("", "", "id-1")))
        unit.append(Ev(draw(st.sampled_from(TABLES)), draw(entities), op, draw(instants), state, event_id, txn))
    return unit


@st.composite
def histories(draw) -> list[list[Ev]]:
    """Batches in ingest order; a batch may cut a transaction, and a whole batch may be retried later."""
    flat = [ev for number in range(draw(st.integers(1, 8))) for ev in draw(units(number))]
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(flat) - 1)), max_size=3))) if len(flat) > 1 else []
    batches = [flat[a:b] for a, b in itertools.pairwise([0, *cuts, len(flat)]) if b > a]
    retried = draw(st.lists(st.integers(0, len(batches) - 1), max_size=2))
    return batches + [batches[index] for index in retried]


def instant_groups(items) -> list:
    return [ts for ts, _ in itertools.groupby(item.event_timestamp for item in items)]


@EXAMPLES
@given(
    batches=histories(), plan=checkpoint_plans, late_from=st.integers(0, 4), probes=st.lists(probe_instants, max_size=3)
)
async def test_states_and_events_with_transactions_and_truncates_equal_the_model(
    events, snapshots, batches, plan, late_from, probes
):
    tenant = uuid.uuid4()
    history = await load(events, snapshots, tenant, batches, plan, late_from)
    everything = EventFilters()
    for at in probes:
        assert as_state(await read_state(events, tenant, at, everything)) == model_state(history, at, everything)
    start, end = at_minute(-1), at_minute(MINUTES + 1)
    assert as_events(await read_events(events, tenant, start, end, everything)) == model_events(
        history, start, end, everything
    )
    for ev in stored(history):
        if ev.txn:
            first = next(e for e in history if e.txn == ev.txn)
            assert ev.ts == first.ts  # one instant per transaction


@EXAMPLES
@given(batches=histories(), page_size=st.integers(1, 4))
async def test_pages_and_playback_batches_never_split_an_instant(events, db, batches, page_size):
    tenant = uuid.uuid4()
    for batch in batches:
        await events.ingest([ev.new(tenant) for ev in batch])
    start, end = at_minute(-1), at_minute(MINUTES + 1)
    whole = await read_events(events, tenant, start, end, EventFilters())

    pages, after = [], None
    while True:
        page = EventPage(events, tenant, start, end, EventFilters(), after=after, size=page_size, work_mem_mb=None)
        items = [item async for chunk in page.chunks() for item in chunk]
        assert page.count == len(items)
        if len(items) > page_size:  # longer only to finish the instant of its last item
            assert len(instant_groups(items[page_size - 1 :])) == 1
        pages.append(items)
        if page.next_position is None:
            break
        after = page.next_position
    assert [item for items in pages for item in items] == whole
    for previous, following in itertools.pairwise(page for page in pages if page):
        assert previous[-1].event_timestamp != following[0].event_timestamp

    source = StoreEventSource(PlaybackStore(db), tenant, work_mem_mb=lambda: None, state_slots=asyncio.Semaphore(1))
    fed, reached, batches_read = [], to_micros(start), []
    while reached < to_micros(end):
        batch = await source.events(reached, to_micros(end), page_size)
        assert batch.reached > reached
        batches_read.append(list(batch.events))
        fed.extend(batch.events)
        reached = batch.reached
    assert [(e.seq, e.timestamp) for e in fed] == [(i.seq, to_micros(i.event_timestamp)) for i in whole]
    for previous, following in itertools.pairwise(b for b in batches_read if b):
        assert previous[-1].timestamp != following[0].timestamp


async def test_a_transaction_continued_in_a_later_batch_keeps_its_first_instant(events):
    tenant = uuid.uuid4()
    first = Ev("public.a", "1", "c", at_minute(1), '{"v": 1}', "tx:0", "tx")
    later = Ev("public.a", "2", "c", at_minute(3), '{"v": 2}', "tx:1", "tx")
    await events.ingest([first.new(tenant)])
    await events.ingest([later.new(tenant)])
    items = await read_events(events, tenant, at_minute(0), at_minute(5), EventFilters())
    assert [(i.entity_id, i.event_timestamp) for i in items] == [("1", at_minute(1)), ("2", at_minute(1))]


async def test_a_truncate_deletes_what_its_table_has_at_its_instant_once(events):
    tenant = uuid.uuid4()
    before = [Ev("public.a", str(i), "c", at_minute(i), f'{{"v": {i}}}') for i in range(3)]
    other = Ev("public.b", "1", "c", at_minute(1), '{"v": 9}')
    after = Ev("public.a", "9", "c", at_minute(5), '{"v": 9}')
    truncate = Ev("public.a", "", "t", at_minute(4), None, "lsn=7")
    result = await events.ingest([e.new(tenant) for e in [*before, other, after, truncate]])
    assert (result.accepted, result.duplicates, result.truncated) == (6, 0, 3)
    retry = await events.ingest([truncate.new(tenant)])
    assert (retry.accepted, retry.duplicates, retry.truncated) == (0, 1, 0)
    state = as_state(await read_state(events, tenant, at_minute(4), EventFilters()))
    assert sorted(state) == [("public.b", "1")]
    state = as_state(await read_state(events, tenant, at_minute(4) + timedelta(minutes=2), EventFilters()))
    assert sorted(state) == [("public.a", "9"), ("public.b", "1")]


async def test_retention_forgets_the_truncates_before_what_it_keeps(db, events, snapshots):
    tenant = uuid.uuid4()
    history = [Ev("public.a", "1", "c", at_minute(1), '{"v": 1}'), Ev("public.a", "", "t", at_minute(2), None)]
    history.append(Ev("public.a", "", "t", at_minute(9), None))
    await events.ingest([ev.new(tenant) for ev in history])
    await snapshots.take_checkpoint(tenant, at_minute(5))
    await Retention(db, reuse_within=timedelta(days=1)).apply(at_minute(5))
    async with db.connection() as conn:
        kept = await conn.fetch("SELECT at FROM truncates WHERE tenant_id = $1", tenant)
    assert [row["at"] for row in kept] == [at_minute(9)]
