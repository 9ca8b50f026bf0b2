"""Generated data sets (BENCH.md, and the demo): deterministic, seed-like entities around Singapore, and loaded so
that the store answers exactly what was generated."""

import itertools
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from store.datasets import DATASETS, DEMO, TABLES, DatasetSpec, generate, load_dataset, whole_hours
from store.events import EventFilters
from store.tenant_config import TenantConfigRepository
from tests.store.model import Ev, as_state, model_events, model_state, read_events, read_state

END = datetime(2026, 6, 1, 12, tzinfo=UTC)
SMALL = DatasetSpec("small", 60, 3_000, timedelta(hours=5))


def events_of(spec, tenant, *, seed=1, end=END) -> list[Ev]:
    return [
        Ev(table, entity, op.decode(), at, state)
        for _, at, table, entity, op, state in generate(spec, tenant, end, seed=seed)
    ]


def test_the_same_seed_gives_the_same_events_and_another_seed_others():
    tenant = uuid.uuid4()
    assert events_of(SMALL, tenant) == events_of(SMALL, tenant)
    assert events_of(SMALL, tenant, seed=2) != events_of(SMALL, tenant)


def test_events_are_in_time_order_within_the_span_and_each_entity_starts_with_a_create():
    history = events_of(SMALL, uuid.uuid4())
    assert len(history) == SMALL.events
    times = [ev.ts for ev in history]
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    assert END - SMALL.span < times[0]
    assert times[-1] <= END
    alive: dict[str, bool] = {}
    for ev in history:
        if ev.entity not in alive or not alive[ev.entity]:
            assert ev.op == "c", "an entity is created first, and again after a delete"
        else:
            assert ev.op in "ud"
        alive[ev.entity] = ev.op != "d"
    assert len(alive) == SMALL.entities


def test_most_events_are_updates_with_some_deletes_and_re_creates_across_three_tables():
    history = events_of(DATASETS["S"], uuid.uuid4())
    ops = Counter(ev.op for ev in history)
    assert ops["u"] > 0.9 * len(history)
    assert ops["d"] > 0
    assert ops["c"] > DATASETS["S"].entities, "deleted entities are created again"
    assert {ev.table for ev in history} == set(TABLES)


def test_entity_states_look_like_the_seeds_geojson_around_singapore():
    tenant = uuid.uuid4()
    for ev in itertools.islice(events_of(DEMO, tenant), 0, None, 97):
        if ev.op == "d":
            assert ev.state is None
            continue
        assert 300 <= len(ev.state.encode()) <= 600
        state = json.loads(ev.state)
        assert set(state) == {"id", "geojson", "occ_lock", "tenant_id", "created_at", "updated_at", "entity_type"}
        assert (state["id"], state["tenant_id"]) == (ev.entity, str(tenant))
        feature = json.loads(state["geojson"])
        assert feature["type"] == "Feature"
        assert feature["properties"]["kind"] == state["entity_type"]
        assert feature["properties"]["name"]
        geometry = feature["geometry"]
        points = [geometry["coordinates"]] if geometry["type"] == "Point" else geometry["coordinates"][0]
        for lon, lat in points:
            assert 103.6 <= lon <= 104.0
            assert 1.25 <= lat <= 1.45


async def test_a_loaded_data_set_answers_exactly_what_was_generated_with_hourly_checkpoints(db, events, snapshots):
    tenant = uuid.uuid4()
    result = await load_dataset(db, SMALL, tenant, END)
    assert (result.events, result.checkpoints) == (SMALL.events, 5)
    assert [s.taken_at for s in await snapshots.snapshots(tenant)] == whole_hours(END - SMALL.span, END)
    assert (await TenantConfigRepository(db).get(tenant)).snapshot_interval == "0 * * * *"
    history = events_of(SMALL, tenant)
    everything = EventFilters()
    for at in (END - timedelta(hours=4, minutes=59), END - timedelta(hours=2, minutes=30), END):
        assert as_state(await read_state(events, tenant, at, everything)) == model_state(history, at, everything)
    start = END - timedelta(minutes=40)
    stored = await read_events(events, tenant, start, END, everything)
    assert [(i.table_name, i.entity_id, i.op, i.event_timestamp) for i in stored] == [
        (table, entity, op, at) for table, entity, op, _, at in model_events(history, start, END, everything)
    ]


async def test_loading_into_a_tenant_that_has_events_is_refused(db):
    tenant = uuid.uuid4()
    await load_dataset(db, SMALL, tenant, END, checkpoints=False)
    with pytest.raises(ValueError):
        await load_dataset(db, SMALL, tenant, END)


def test_data_set_p_is_dense_one_thousand_entities_with_four_hundred_thousand_events_in_twenty_minutes():
    dense = DATASETS["P"]
    assert (dense.entities, dense.events, dense.span) == (1_000, 400_000, timedelta(minutes=20))
    assert dense.events / dense.span.total_seconds() > 300, "feeds G4-G6: over 300 events per second of history"
