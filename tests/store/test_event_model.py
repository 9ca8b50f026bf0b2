"""The store against the reference model (SPEC section 5) on random histories: creates, updates, deletes,
re-creates, snapshot reads, equal timestamps, duplicates, several tables, filters, checkpoints and late events."""

import itertools
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.events import EventFilters
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
)

MINUTES = 30
EXAMPLES = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

instants = st.builds(at_minute, st.integers(0, MINUTES), st.sampled_from([0, 0, 0, 1, 999_999]))
probe_instants = st.builds(at_minute, st.integers(-1, MINUTES + 1), st.sampled_from([0, 0, 1, 500_000]))


@st.composite
def change_events(draw, index: int) -> Ev:
    op = draw(st.sampled_from("cuuurd"))
    state = None if op == "d" else f'{{"v": {index},  "tag" : "{draw(st.sampled_from("xyz"))}"}}'
    return Ev(
        table=draw(st.sampled_from(TABLES)),
        entity=draw(st.sampled_from(("1", "2", "3", "e-4"))),
        op=op,
        ts=draw(instants),
        state=state,
        event_id=draw(st.sampled_from(("", "", "", "id-1", "id-2"))),
    )


@st.composite
def histories(draw) -> list[list[Ev]]:
    """Batches of events in ingest order (the same identity may come twice: a duplicate)."""
    size = draw(st.integers(0, 40))
    flat = [draw(change_events(i)) for i in range(size)]
    cuts = sorted(draw(st.sets(st.integers(1, max(1, size - 1)), max_size=4))) if size > 1 else []
    bounds = [0, *cuts, size]
    return [flat[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@st.composite
def filters(draw) -> EventFilters:
    tables = draw(st.none() | st.sets(st.sampled_from(TABLES), min_size=1).map(tuple))
    if draw(st.booleans()):
        filtered = tuple(draw(st.sets(st.sampled_from(TABLES), min_size=1)))
        return EventFilters(tables=tables, filter_tables=filtered, filter_min_timestamp=draw(instants))
    return EventFilters(tables=tables)


checkpoint_plans = st.lists(
    st.tuples(instants, st.sampled_from([(), (), ("public.a",), ("public.a", "c")])), max_size=3
)


async def load(store, snapshots, tenant, batches, plan, late_from) -> list[Ev]:
    """Ingest the batches; take the planned checkpoints before the batches from index ``late_from`` on."""
    history: list[Ev] = []
    for number, batch in enumerate(batches):
        if number == late_from:
            for instant, tables in plan:
                await snapshots.take_checkpoint(tenant, instant, tables)
        await store.ingest([ev.new(tenant) for ev in batch])
        history.extend(batch)
    if late_from >= len(batches):
        for instant, tables in plan:
            await snapshots.take_checkpoint(tenant, instant, tables)
    return history


@EXAMPLES
@given(
    batches=histories(),
    plan=checkpoint_plans,
    late_from=st.integers(0, 5),
    probes=st.lists(probe_instants, min_size=1, max_size=4),
    chosen=filters(),
)
async def test_state_at_t_equals_the_reference_model_with_and_without_checkpoints(
    events, snapshots, batches, plan, late_from, probes, chosen
):
    tenant = uuid.uuid4()
    history = await load(events, snapshots, tenant, batches, plan, late_from)
    for at in probes:
        assert as_state(await read_state(events, tenant, at, chosen)) == model_state(history, at, chosen)
        assert as_state(await read_state(events, tenant, at, EventFilters())) == model_state(
            history, at, EventFilters()
        )


@EXAMPLES
@given(
    batches=histories(),
    plan=checkpoint_plans,
    late_from=st.integers(0, 5),
    bounds=st.tuples(probe_instants, probe_instants).map(sorted),
    chosen=filters(),
)
async def test_state_t1_with_events_between_applied_is_state_t2(
    events, snapshots, batches, plan, late_from, bounds, chosen
):
    tenant = uuid.uuid4()
    history = await load(events, snapshots, tenant, batches, plan, late_from)
    start, end = bounds
    between = await read_events(events, tenant, start, end, chosen)
    assert as_events(between) == model_events(history, start, end, chosen)
    applied = as_state(await read_state(events, tenant, start, chosen))
    for item in between:
        if item.op == "d":
            applied.pop((item.table_name, item.entity_id), None)
        else:
            applied.update(as_state([item]))
    assert applied == as_state(await read_state(events, tenant, end, chosen))


@EXAMPLES
@given(
    batches=histories(),
    bounds=st.tuples(probe_instants, probe_instants).map(sorted),
    chosen=filters(),
    page_size=st.integers(1, 6),
)
async def test_paged_reads_of_events_concatenate_to_the_unpaged_read(events, batches, bounds, chosen, page_size):
    tenant = uuid.uuid4()
    for batch in batches:
        await events.ingest([ev.new(tenant) for ev in batch])
    start, end = bounds
    whole = await read_events(events, tenant, start, end, chosen)
    pages: list = []
    after = None
    while True:
        page = await read_events(events, tenant, start, end, chosen, after=after, limit=page_size)
        assert len(page) <= page_size
        pages.extend(page)
        if len(page) < page_size:
            break
        after = page[-1].position
    assert pages == whole
    assert [item.position for item in whole] == sorted(item.position for item in whole)
