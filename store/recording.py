"""Writing a batch of events: one transaction, idempotent, with source transactions and truncates.

Two rules beyond ``INSERT ... ON CONFLICT DO NOTHING`` (docs/decisions.md, "Capture and transactions"):

- **A source transaction is one instant.** Every event that names a transaction (``NewEvent.txn``) is recorded at
  the transaction's instant: the one it was recorded at before (by an event or a truncate), or, for a transaction
  new to the store, the time of its first event in the batch. So no state, frame or page boundary (all of them
  fall between instants) splits it, even when its events reach the server in several requests.
- **A truncate deletes every entity its table has at its instant.** A ``NewEvent`` with op ``t`` is not stored as
  an event: at its place in the batch it becomes one ``d`` event per entity of its table in the state at its
  instant (what was recorded up to then, this batch's earlier events included), with its identity and
  transaction. A row in ``truncates`` remembers it, so a retried truncate is a duplicate, not a second sweep.
  A batch with a truncate takes its tenants' exclusive write lock, so no concurrent ingest slips past the sweep.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime

from store import queries
from store.errors import BeforeRetainedHistoryError
from store.events import STATE_AT_SQL, EventFilters, IngestResult, NewEvent, base_snapshot, state_arguments
from store.pool import Connection

_Q = queries.load("recording.sql")
_EVENTS_Q = queries.load("events.sql")
_TRUNCATE_ENTITIES = _Q["truncate_entities"].replace("{state_at}", STATE_AT_SQL)
_BATCH_COLUMNS = ("tenant_id", "event_timestamp", "table_name", "entity_id", "op", "entity_state", "event_id", "txn")

TRUNCATE = "t"
"""The op of a truncate (``NewEvent.entity_id`` and ``entity_state`` are ignored)."""
TRUNCATE_ID_PREFIX = "truncate:"
"""The ``event_id`` of the deletes a truncate writes is its own, behind this prefix."""


async def _transaction_instants(conn: Connection, events: Sequence[NewEvent]) -> list[NewEvent]:
    """The events, each of a source transaction moved to that transaction's instant."""
    keys = {(e.tenant_id, e.txn) for e in events if e.txn}
    if not keys:
        return list(events)
    tenants, txns = zip(*sorted(keys), strict=True)
    rows = await conn.fetch(_Q["transaction_instants"], list(tenants), list(txns))
    instants: dict[tuple[uuid.UUID, str], datetime] = {(r["tenant_id"], r["txn"]): r["at"] for r in rows}
    moved: list[NewEvent] = []
    for event in events:
        if event.txn:
            instant = instants.setdefault((event.tenant_id, event.txn), event.event_timestamp)
            if instant != event.event_timestamp:
                event = NewEvent(  # noqa: PLW2901 - the event, at its transaction's instant
                    event.tenant_id,
                    event.table_name,
                    event.entity_id,
                    event.op,
                    event.entity_state,
                    instant,
                    event.event_id,
                    event.txn,
                )
        moved.append(event)
    return moved


def _refuse_retained(events: Sequence[NewEvent], cut: dict[uuid.UUID, datetime]) -> None:
    """Raise when an event falls at or before its tenant's retained history (see BeforeRetainedHistoryError)."""
    if not cut:
        return
    for row, event in enumerate(events):
        limit = cut.get(event.tenant_id)
        if limit is not None and event.event_timestamp <= limit:
            raise BeforeRetainedHistoryError(row, limit)


def _parts(events: Sequence[NewEvent]) -> Iterator[Sequence[NewEvent]]:
    """The batch cut around its truncates: runs of ordinary events, and each truncate alone."""
    start = 0
    for index, event in enumerate(events):
        if event.op == TRUNCATE:
            if index > start:
                yield events[start:index]
            yield events[index : index + 1]
            start = index + 1
    if start < len(events):
        yield events[start:]


class _Written:
    """What a batch wrote so far: per tenant, events stored and the earliest instant touched."""

    def __init__(self) -> None:
        self.accepted = 0
        self.deleted = 0
        self.earliest: dict[uuid.UUID, datetime] = {}

    def touched(self, tenant_id: uuid.UUID, at: datetime) -> None:
        current = self.earliest.get(tenant_id)
        if current is None or at < current:
            self.earliest[tenant_id] = at


async def _insert(conn: Connection, events: Sequence[NewEvent], written: _Written, cleared: bool) -> None:
    if not cleared:
        await conn.execute(_Q["clear_ingest_batch"])
    records = (
        (e.tenant_id, e.event_timestamp, e.table_name, e.entity_id, e.op, e.entity_state, e.event_id, e.txn)
        for e in events
    )
    await conn.copy_records_to_table("ingest_batch", records=records, columns=_BATCH_COLUMNS)
    for row in await conn.fetch(_EVENTS_Q["insert_events"]):
        written.accepted += row["accepted"]
        written.touched(row["tenant_id"], row["earliest"])


async def _invalidate(conn: Connection, written: _Written) -> None:
    """Invalidate the snapshots that miss what was written (so a truncate's sweep never starts from one)."""
    if written.earliest:
        tenants = list(written.earliest)
        await conn.execute(_EVENTS_Q["after_ingest"], tenants, [written.earliest[t] for t in tenants])


async def _truncate(conn: Connection, truncate: NewEvent, written: _Written) -> None:
    tenant, table, at = truncate.tenant_id, truncate.table_name, truncate.event_timestamp
    if await conn.fetchval(_Q["record_truncate"], tenant, table, at, truncate.event_id, truncate.txn) is None:
        return  # recorded before: a duplicate
    written.accepted += 1
    await _invalidate(conn, written)
    base = await base_snapshot(conn, tenant, at)
    arguments = state_arguments(tenant, at, base, EventFilters(tables=(table,)))
    deleted: int = await conn.fetchval(
        _TRUNCATE_ENTITIES, *arguments, TRUNCATE_ID_PREFIX + truncate.event_id, truncate.txn
    )
    await conn.execute(_Q["count_truncate"], tenant, table, at, truncate.event_id, deleted)
    written.deleted += deleted
    if deleted:
        written.touched(tenant, at)


async def record(conn: Connection, events: Sequence[NewEvent]) -> IngestResult:
    """Write a batch in the caller's transaction (see the module's docstring); duplicates are skipped and counted."""
    tenants = sorted({e.tenant_id for e in events})
    has_truncate = any(e.op == TRUNCATE for e in events)
    lock = _Q["lock_tenants_exclusive"] if has_truncate else _EVENTS_Q["lock_tenants_for_ingest"]
    await conn.execute(lock, tenants)
    retained = await conn.fetch(_EVENTS_Q["retained_from_of"], tenants)
    batch = await _transaction_instants(conn, events)
    _refuse_retained(batch, {row["tenant_id"]: row["retained_from"] for row in retained})
    await conn.execute(_EVENTS_Q["create_ingest_batch"])
    written = _Written()
    cleared = True
    for part in _parts(batch):
        if part[0].op == TRUNCATE:
            await _truncate(conn, part[0], written)
        else:
            await _insert(conn, part, written, cleared)
            cleared = False
    await _invalidate(conn, written)
    return IngestResult(written.accepted, len(events) - written.accepted, written.deleted)
