"""The event store: atomic, idempotent ingest; the state at an instant; the events between two instants.

Definitions (SPEC section 5). Events are ordered by ``(event_timestamp, seq)``; ``seq`` comes from the sequence
``event_seq`` in ingest order (within a batch, in the batch's order). The **state at T** holds, for every
``(table_name, entity_id)``, the latest event with ``event_timestamp <= T``; entities whose latest event is a
delete are absent. **Events between T1 and T2** are the events with ``T1 < event_timestamp <= T2``. Hence
``state(T1)`` with ``events(T1, T2)`` applied is ``state(T2)``.

Filters (:class:`EventFilters`): ``tables`` keeps only those tables; ``filter_tables`` with
``filter_min_timestamp`` leaves out, for the listed tables only, every event older than ``filter_min_timestamp``
(strictly older; an event exactly at it stays). For the state this means that an entity of a filtered table
whose latest event up to T is older than ``filter_min_timestamp`` is absent (its older events are not looked at).
The identity above holds with the same filters on both sides.

Reads run in one REPEATABLE READ, read-only transaction on the read pool, stream through a server-side cursor in
chunks, and never hold a whole answer in memory. ``entity_state`` is passed through as the JSON text that was
ingested (:class:`msgspec.Raw`), never decoded.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import msgspec

from store import queries
from store.pool import Connection, Database

_Q = queries.load("events.sql")
_NULL = msgspec.Raw(b"null")
_MAX_SEQ = 2**63 - 1

DEFAULT_CHUNK_SIZE = 2000
"""Items per chunk of a streamed read (and rows per cursor round trip)."""


class StoredEvent(msgspec.Struct, frozen=True, gc=False):
    """One event as read back: an item of the state or of the events between two instants."""

    entity_id: str
    table_name: str
    op: str
    entity_state: msgspec.Raw
    """The JSON text as ingested (``null`` for deletes)."""
    event_timestamp: datetime
    seq: int

    @property
    def position(self) -> Position:
        """The event's place in the ``(event_timestamp, seq)`` order (a paging cursor)."""
        return Position(self.event_timestamp, self.seq)


class NewEvent(msgspec.Struct, frozen=True, gc=False):
    """One event to ingest, already validated (see ``app.ingest``)."""

    tenant_id: uuid.UUID
    table_name: str
    entity_id: str
    op: str
    """``c``, ``r``, ``u`` or ``d``."""
    entity_state: str | None
    """JSON text of an object, stored verbatim; None for deletes."""
    event_timestamp: datetime
    event_id: str = ""
    """Client identity of the event; '' makes ``(table_name, entity_id, op, event_timestamp)`` the identity."""
    txn: str = ""
    """The source transaction the event belongs to ('' none); see ``store.recording``."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one batch did: events stored, and events skipped because they were already stored."""

    accepted: int
    duplicates: int
    truncated: int = 0
    """Entities deleted by the batch's truncates."""


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in the ``(event_timestamp, seq)`` order; reading "after" it continues a paged read."""

    event_timestamp: datetime
    seq: int


@dataclass(frozen=True, slots=True)
class EventFilters:
    """The filters of SPEC section 5; the default keeps everything."""

    tables: tuple[str, ...] | None = None
    """Only these tables (None: every table)."""
    filter_tables: tuple[str, ...] | None = None
    """Tables whose events older than ``filter_min_timestamp`` are left out."""
    filter_min_timestamp: datetime | None = None

    def __post_init__(self) -> None:
        if (self.filter_tables is None) != (self.filter_min_timestamp is None):
            raise ValueError("filter_tables and filter_min_timestamp go together")

    def arguments(self) -> tuple[list[str] | None, list[str] | None, datetime | None]:
        """The ``tables, filter_tables, filter_min_timestamp`` arguments of the read queries."""
        return (
            None if self.tables is None else list(self.tables),
            None if self.filter_tables is None else list(self.filter_tables),
            self.filter_min_timestamp,
        )


NO_FILTERS = EventFilters()
"""Filters that keep everything."""


@dataclass(frozen=True, slots=True)
class BaseSnapshot:
    """The complete snapshot a state read starts from."""

    id: int
    taken_at: datetime
    tables: tuple[str, ...]
    """Tables covered; empty means every table."""


def stored_event(record: asyncpg.Record) -> StoredEvent:
    """An item from a row ``table_name, entity_id, op, entity_state, event_timestamp, seq``."""
    state = record[3]
    return StoredEvent(
        record[1], record[0], record[2], _NULL if state is None else msgspec.Raw(state), record[4], record[5]
    )


async def set_work_mem(conn: Connection, work_mem_mb: int | None) -> None:
    """Apply ``query_work_mem_mb`` to the rest of the current transaction (None: the server's default)."""
    if work_mem_mb is not None:
        if work_mem_mb <= 0:
            raise ValueError("work_mem_mb must be > 0")
        await conn.execute(_Q["set_work_mem"], f"{work_mem_mb}MB")


async def base_snapshot(conn: Connection, tenant_id: uuid.UUID, at: datetime) -> BaseSnapshot | None:
    """The newest complete snapshot of the tenant taken at or before ``at``."""
    row = await conn.fetchrow(_Q["base_snapshot"], tenant_id, at)
    if row is None:
        return None
    return BaseSnapshot(row["id"], row["taken_at"], tuple(row["tables"]))


def state_arguments(
    tenant_id: uuid.UUID, at: datetime, base: BaseSnapshot | None, filters: EventFilters
) -> tuple[object, ...]:
    """The ``$1..$8`` arguments of the ``state_at`` query."""
    if base is None:
        snapshot: tuple[object, ...] = (None, None, [])
    else:
        snapshot = (base.id, base.taken_at, list(base.tables))
    return (tenant_id, at, *snapshot, *filters.arguments())


def events_between_arguments(
    tenant_id: uuid.UUID,
    start: datetime,
    end: datetime,
    filters: EventFilters,
    after: Position | None,
    limit: int | None,
) -> tuple[object, ...]:
    """The ``$1..$9`` arguments of the ``events_between`` query."""
    cursor_time, cursor_seq = (start, _MAX_SEQ) if after is None else (after.event_timestamp, after.seq)
    return (tenant_id, start, cursor_time, cursor_seq, end, *filters.arguments(), limit)


STATE_AT_SQL: str = _Q["state_at"]
"""The state query (``$1..$8`` as :func:`state_arguments` builds them); checkpoints insert its rows."""


class EventStore:
    """Ingest and reads of change events over a :class:`store.pool.Database`."""

    def __init__(self, db: Database, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be > 0")
        self._db = db
        self._chunk_size = chunk_size

    async def ingest(self, events: Sequence[NewEvent]) -> IngestResult:
        """Store a batch atomically; events whose identity is already stored are skipped and counted.

        See ``store.recording``: the batch is copied into a staging table and moved into ``events`` with
        ``INSERT ... ON CONFLICT DO NOTHING``; source transactions get one instant and truncates delete their
        table's entities. In the same transaction, every snapshot of a tenant taken at or after the tenant's
        earliest new event becomes 'invalid' (it misses the event), so late events never make an answer wrong.
        """
        from store.recording import record  # noqa: PLC0415 - recording builds on this module's queries

        if not events:
            return IngestResult(0, 0)
        async with self._db.connection() as conn, conn.transaction():
            return await record(conn, events)

    async def state_at(
        self,
        tenant_id: uuid.UUID,
        at: datetime,
        filters: EventFilters = NO_FILTERS,
        *,
        work_mem_mb: int | None = None,
    ) -> AsyncGenerator[list[StoredEvent], None]:
        """The state of the tenant at ``at``, in chunks, in no particular order.

        It starts from the newest complete snapshot taken at or before ``at`` and adds the events since (tables
        the snapshot does not cover come from the whole history). Consume it with ``contextlib.aclosing`` when
        you may stop early, so the connection goes back to the pool at once.
        """
        async with self._db.read_connection() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            await set_work_mem(conn, work_mem_mb)
            base = await base_snapshot(conn, tenant_id, at)
            cursor = await conn.cursor(STATE_AT_SQL, *state_arguments(tenant_id, at, base, filters))
            while records := await cursor.fetch(self._chunk_size):
                yield [stored_event(r) for r in records]

    async def events_between(
        self,
        tenant_id: uuid.UUID,
        start: datetime,
        end: datetime,
        filters: EventFilters = NO_FILTERS,
        *,
        after: Position | None = None,
        limit: int | None = None,
        work_mem_mb: int | None = None,
    ) -> AsyncGenerator[list[StoredEvent], None]:
        """The events with ``start < event_timestamp <= end`` in ``(event_timestamp, seq)`` order, in chunks.

        ``after`` continues a paged read after the last item of the previous page (keyset paging); ``limit``
        bounds the number of items (a page). The next page starts after the last item's ``position``.
        Consume it with ``contextlib.aclosing`` when you may stop early.
        """
        if limit is not None and limit <= 0:
            raise ValueError("limit must be > 0")
        arguments = events_between_arguments(tenant_id, start, end, filters, after, limit)
        async with self._db.read_connection() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            await set_work_mem(conn, work_mem_mb)
            cursor = await conn.cursor(_Q["events_between"], *arguments)
            while records := await cursor.fetch(self._chunk_size):
                yield [stored_event(r) for r in records]

    async def earliest_instant(self, tenant_id: uuid.UUID) -> datetime | None:
        """The earliest instant of the tenant's data: its oldest complete snapshot or oldest event; None: neither.

        Never before the instant retention keeps the tenant's data from (``tenant_config.retained_from``, set
        before retention deletes anything; see ``store.retention``), so every instant from there on can be
        reconstructed, even while a retention run is removing older data.
        """
        async with self._db.read_connection() as conn:
            value: datetime | None = await conn.fetchval(_Q["earliest_instant"], tenant_id)
        return value
