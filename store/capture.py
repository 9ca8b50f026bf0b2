"""Capture from PostgreSQL sources (SPEC section 6): captured tables, a source's triggers and outbox, its reader.

In a source database, ``msr capture add`` installs schema ``msr_capture``: an ``outbox`` table and a trigger
function, and on each captured table a row trigger and a truncate trigger. They write every change to the outbox in
the changing transaction itself, so a rolled-back transaction leaves nothing and a committed one leaves all its
changes, each with the transaction id (``xid8``, never reused) and the clock at the change, and NOTIFY
``msr_capture``. The server drains the outbox (``app.capture``): it reads a batch, stores it, then deletes it, so
a crash between the two stores it again, as the same events (identity ``<txid>:<outbox id>``), which the store
recognises as duplicates: at least once, idempotent in the store.

A transaction's events are recorded at its instant: the latest change of the transaction. Two transactions that
change one row are serialised by the row's lock, so the later one changes it after the earlier one committed,
hence after every change of the earlier one: the order of instants is the order in which they wrote the row.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from store import queries
from store.pool import Database, translate_errors

_Q = queries.load("capture.sql")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")
NOTIFY_CHANNEL = "msr_capture"
"""The channel the source's trigger notifies on every change."""


class CaptureSetupError(Exception):
    """A table cannot be captured (missing, or its key column missing or nullable); the message says why."""


@dataclass(frozen=True, slots=True)
class CapturedTable:
    """A table captured for a tenant."""

    tenant_id: uuid.UUID
    source_url: str
    """The source database's URL; '' for the server's own database."""
    table_name: str
    """``schema.table`` in the source."""
    key_column: str
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One change read from a source's outbox."""

    id: int
    txid: int
    instant: datetime
    """The instant of the row's transaction (its latest change)."""
    tenant_id: uuid.UUID
    table_name: str
    op: str
    """``c``, ``u``, ``d`` or ``t`` (truncate)."""
    entity_id: str
    entity_state: str | None


def _split(table_name: str) -> tuple[str, str]:
    schema, _, table = table_name.partition(".")
    if not table or not _IDENTIFIER.match(schema) or not _IDENTIFIER.match(table):
        raise CaptureSetupError(f"the table must be 'schema.table' (identifiers), got {table_name[:80]!r}")
    return schema, table


def _quoted(*parts: str) -> str:
    # Parts are identifiers matched by _IDENTIFIER (no quotes in them), so double quotes make them safe.
    return ".".join(f'"{part}"' for part in parts)


def _trigger_name(tenant_id: uuid.UUID) -> str:
    return f"msr_capture_{tenant_id.hex}"


class CaptureRepository:
    """The captured tables, kept in the server's database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, table: CapturedTable) -> None:
        """Record a captured table (again: its new key column)."""
        async with self._db.connection() as conn:
            await conn.execute(_Q["add_table"], table.tenant_id, table.source_url, table.table_name, table.key_column)

    async def tables(self, tenant_id: uuid.UUID | None = None) -> list[CapturedTable]:
        """The captured tables of a tenant (None: of every tenant)."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(_Q["list_tables"], tenant_id)
        return [
            CapturedTable(r["tenant_id"], r["source_url"], r["table_name"], r["key_column"], r["created_at"])
            for r in rows
        ]

    async def remove(self, tenant_id: uuid.UUID, source_url: str, table_name: str) -> bool:
        """Forget a captured table; False when it was not captured."""
        async with self._db.connection() as conn:
            return await conn.fetchval(_Q["remove_table"], tenant_id, source_url, table_name) is not None

    async def sources(self) -> list[str]:
        """Every source URL some table is captured from ('' the server's own database)."""
        async with self._db.connection() as conn:
            return [r["source_url"] for r in await conn.fetch(_Q["sources"])]


async def _source_connection(dsn: str) -> asyncpg.Connection:
    with translate_errors():
        connection: asyncpg.Connection = await asyncpg.connect(dsn, timeout=10)
    return connection


async def install_capture(dsn: str, table: CapturedTable) -> None:
    """Install the outbox (once) and the table's triggers in the source; a CaptureSetupError when it cannot be."""
    schema, name = _split(table.table_name)
    if not _IDENTIFIER.match(table.key_column):
        raise CaptureSetupError(f"the key column must be an identifier, got {table.key_column[:80]!r}")
    conn = await _source_connection(dsn)
    try:
        async with conn.transaction():
            await conn.execute(_Q["lock_source_setup"])
            found = await conn.fetchrow(_Q["key_column_of"], schema, name, table.key_column)
            if found is None:
                raise CaptureSetupError(f"the source has no table {table.table_name}")
            if found["not_null"] is None:
                raise CaptureSetupError(f"{table.table_name} has no column {table.key_column}")
            if not found["not_null"]:
                raise CaptureSetupError(
                    f"the key column {table.key_column} of {table.table_name} must be NOT NULL (every entity has an id)"
                )
            await conn.execute(_Q["install_outbox"])
            await conn.execute(
                _Q["install_triggers"].format(
                    name=_trigger_name(table.tenant_id),
                    table=_quoted(schema, name),
                    key=f"'{table.key_column}'",
                    tenant=f"'{table.tenant_id}'",
                )
            )
    finally:
        await conn.close()


async def uninstall_capture(dsn: str, table: CapturedTable) -> None:
    """Drop the table's triggers in the source (changes already in the outbox are still drained)."""
    schema, name = _split(table.table_name)
    conn = await _source_connection(dsn)
    try:
        await conn.execute(
            _Q["remove_triggers"].format(name=_trigger_name(table.tenant_id), table=_quoted(schema, name))
        )
    finally:
        await conn.close()


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """A row read by a source snapshot."""

    table_name: str
    entity_id: str
    entity_state: str


class OutboxReader:
    """A drainer's connection to a source: its lock, its wake-ups, the outbox's batches, and source snapshots."""

    def __init__(self, dsn: str, conn: asyncpg.Connection) -> None:
        self._dsn = dsn
        self._conn = conn

    @classmethod
    async def connect(cls, dsn: str) -> OutboxReader:
        """A reader on a new connection to the source."""
        return cls(dsn, await _source_connection(dsn))

    async def close(self) -> None:
        """Close the connection (its lock and LISTEN go with it)."""
        if not self._conn.is_closed():
            await self._conn.close(timeout=5)

    async def take_lock(self) -> bool:
        """Make this the source's only drainer while the connection lives; False when another one is."""
        with translate_errors():
            return bool(await self._conn.fetchval(_Q["try_drain_lock"]))

    async def listen(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` on every notification of a change."""
        with translate_errors():
            await self._conn.add_listener(NOTIFY_CHANNEL, lambda *_: wake())

    async def batch(self, limit: int) -> list[OutboxRow]:
        """The first ``limit`` rows of the outbox (what a crash left undeleted comes again)."""
        try:
            with translate_errors():
                rows = await self._conn.fetch(_Q["outbox_batch"], limit)
        except asyncpg.UndefinedTableError:
            return []  # the outbox is not installed (yet)
        return [
            OutboxRow(
                r["id"],
                r["txid"],
                r["instant"],
                r["tenant_id"],
                r["table_name"],
                r["op"],
                r["entity_id"],
                r["entity_state"],
            )
            for r in rows
        ]

    async def forget(self, ids: list[int]) -> None:
        """Delete stored rows from the outbox."""
        with translate_errors():
            await self._conn.execute(_Q["outbox_delete"], ids)

    async def last_snapshot(self, tenant_id: uuid.UUID) -> datetime | None:
        """When the tenant's newest source snapshot of this source was taken (None: never)."""
        with translate_errors():
            value: datetime | None = await self._conn.fetchval(_Q["last_source_snapshot"], tenant_id)
        return value

    async def snapshot(
        self, tenant_id: uuid.UUID, tables: Sequence[CapturedTable], chunk: int, *, keep: timedelta
    ) -> AsyncGenerator[tuple[datetime, list[SnapshotRow]], None]:
        """Read the tables in one REPEATABLE READ transaction: its instant S and the rows, in chunks.

        S is the source's clock once the transaction's snapshot is taken. The snapshot is recorded before any row
        is read, so the outbox's transactions it could not see are placed after S when drained
        (``outbox_batch``). Recorded snapshots older than ``keep`` are forgotten.
        """
        conn = await _source_connection(self._dsn)
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                with translate_errors():
                    seen = await conn.fetchrow(_Q["begin_source_snapshot"])
                    assert seen is not None
                    taken_at: datetime = seen["taken_at"]
                    await self._conn.execute(
                        _Q["record_source_snapshot"], tenant_id, taken_at, seen["snapshot"], taken_at - keep
                    )
                for table in tables:
                    schema, name = _split(table.table_name)
                    query = _Q["read_source_table"].format(table=_quoted(schema, name), key=f"'{table.key_column}'")
                    with translate_errors():
                        cursor = await conn.cursor(query)
                        while rows := await cursor.fetch(chunk):
                            yield taken_at, [SnapshotRow(table.table_name, r[0], r[1]) for r in rows]
        finally:
            await asyncio.shield(conn.close())
