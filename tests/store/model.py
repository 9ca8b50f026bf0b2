"""The reference model of SPEC section 5 in plain Python, and helpers to compare the store with it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from store.events import EventFilters, EventStore, NewEvent, StoredEvent

BASE = datetime(2026, 1, 5, tzinfo=UTC)
TABLES = ("public.a", "public.b", "c")


@dataclass(frozen=True)
class Ev:
    """An event of a generated history (in ingest order)."""

    table: str
    entity: str
    op: str
    ts: datetime
    state: str | None
    event_id: str = ""
    txn: str = ""
    """The source transaction ('' none)."""

    def new(self, tenant: uuid.UUID) -> NewEvent:
        return NewEvent(tenant, self.table, self.entity, self.op, self.state, self.ts, self.event_id, self.txn)

    @property
    def identity(self) -> tuple[object, ...]:
        return (self.table, self.entity, self.op, self.ts, self.event_id)


def at_minute(minute: int, micros: int = 0) -> datetime:
    return BASE + timedelta(minutes=minute, microseconds=micros)


# --- the model -------------------------------------------------------------------------------------------------


def stored(history: Iterable[Ev]) -> list[Ev]:
    """What the store keeps, in seq order: the first event of each identity.

    An event of a transaction takes the instant of the transaction's first event. A truncate (op ``t``) is not
    kept itself (only its first time counts): it becomes, at its place, a delete of every entity of its table in
    the state at its instant.
    """
    seen: set[tuple[object, ...]] = set()
    instants: dict[str, datetime] = {}
    truncates: set[tuple[object, ...]] = set()
    kept: list[Ev] = []
    for ev in history:
        if ev.txn:
            ev = replace(ev, ts=instants.setdefault(ev.txn, ev.ts))  # noqa: PLW2901
        if ev.op == "t":
            if (ev.table, ev.ts, ev.event_id) in truncates:
                continue
            truncates.add((ev.table, ev.ts, ev.event_id))
            existing = _state_of(kept, ev.ts, EventFilters(tables=(ev.table,)))
            deletes = [
                Ev(ev.table, entity, "d", ev.ts, None, "truncate:" + ev.event_id, ev.txn) for _, entity in existing
            ]
            kept.extend(d for d in sorted(deletes, key=lambda d: d.entity) if d.identity not in seen)
            seen.update(d.identity for d in deletes)
        elif ev.identity not in seen:
            seen.add(ev.identity)
            kept.append(ev)
    return kept


def keeps(ev: Ev, filters: EventFilters) -> bool:
    if filters.tables is not None and ev.table not in filters.tables:
        return False
    if filters.filter_tables is not None and ev.table in filters.filter_tables:
        assert filters.filter_min_timestamp is not None
        return ev.ts >= filters.filter_min_timestamp
    return True


def _state_of(kept: list[Ev], at: datetime, filters: EventFilters) -> dict[tuple[str, str], Ev]:
    latest: dict[tuple[str, str], Ev] = {}
    for ev in kept:
        if ev.ts <= at and keeps(ev, filters):
            current = latest.get((ev.table, ev.entity))
            if current is None or ev.ts >= current.ts:  # a later seq wins a tie
                latest[(ev.table, ev.entity)] = ev
    return {key: ev for key, ev in latest.items() if ev.op != "d"}


def model_state(history: list[Ev], at: datetime, filters: EventFilters) -> dict[tuple[str, str], tuple]:
    return {key: (ev.op, ev.state, ev.ts) for key, ev in _state_of(stored(history), at, filters).items()}


def model_events(history: list[Ev], start: datetime, end: datetime, filters: EventFilters) -> list[tuple]:
    kept = [ev for ev in stored(history) if start < ev.ts <= end and keeps(ev, filters)]
    kept.sort(key=lambda ev: ev.ts)  # stable: equal times keep seq order
    return [(ev.table, ev.entity, ev.op, ev.state, ev.ts) for ev in kept]


# --- the store, seen the same way ------------------------------------------------------------------------------


def text(item: StoredEvent) -> str | None:
    raw = bytes(item.entity_state).decode()
    return None if raw == "null" else raw


def as_state(items: Iterable[StoredEvent]) -> dict[tuple[str, str], tuple]:
    state: dict[tuple[str, str], tuple] = {}
    for item in items:
        key = (item.table_name, item.entity_id)
        assert key not in state, f"{key} appears twice in a state"
        state[key] = (item.op, text(item), item.event_timestamp)
    return state


def as_events(items: Iterable[StoredEvent]) -> list[tuple]:
    return [(i.table_name, i.entity_id, i.op, text(i), i.event_timestamp) for i in items]


async def read_state(store: EventStore, tenant: uuid.UUID, at: datetime, filters: EventFilters) -> list[StoredEvent]:
    return [item async for chunk in store.state_at(tenant, at, filters, work_mem_mb=8) for item in chunk]


async def read_events(
    store: EventStore, tenant: uuid.UUID, start: datetime, end: datetime, filters: EventFilters, **kwargs
) -> list[StoredEvent]:
    return [item async for chunk in store.events_between(tenant, start, end, filters, **kwargs) for item in chunk]
