"""The asyncpg pools (primary and optional read replica), their lifecycle, and driver-error translation."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TypeAlias

import asyncpg

from store import queries
from store.errors import StoreFullError, StoreUnavailableError

_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.OperatorInterventionError,
    asyncpg.QueryCanceledError,
    # asyncpg's protocol out of step with the server: PostgreSQL's shutdown says goodbye ("terminating connection
    # due to administrator command") on every connection, idle ones too, and an idle connection that read it is
    # stuck (InternalClientError "another operation (2) is in progress") until the socket's close is seen. The
    # connection is discarded (see _discarded_when_broken); a retry gets another one.
    asyncpg.InternalClientError,
)


_Q = queries.load("replication.sql")
_log = logging.getLogger("msr.store.pool")

Connection: TypeAlias = "asyncpg.Connection | asyncpg.pool.PoolConnectionProxy"
"""A borrowed connection, as the repositories see it."""


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn "PostgreSQL is not there" driver errors into :class:`StoreUnavailableError` (a full disk: its subclass)."""
    try:
        yield
    except asyncpg.DiskFullError as exc:
        raise StoreFullError("the database is out of disk space; retry once space is freed") from exc
    except _UNAVAILABLE as exc:
        raise StoreUnavailableError(f"database unavailable: {type(exc).__name__}") from exc


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """How the pools connect; built by the composition root from the process settings."""

    dsn: str
    read_dsn: str | None = None
    min_size: int = 2
    max_size: int = 10
    command_timeout_s: float = 30.0
    statement_timeout_ms: int = 30_000
    connect_timeout_s: float = 5.0
    read_wait_ms: int = 500
    """How long a read waits for the replica to replay what the primary had committed when the read began;
    past it, the read goes to the primary (see :meth:`Database.read_connection`)."""
    on_read: Callable[[str], None] | None = None
    """Told where each read went when there is a replica: ``"replica"``, or ``"primary"`` when it lagged."""


async def _keep_session_state(connection: asyncpg.Connection) -> None:
    """Release a connection to the pool without asyncpg's default reset round trip (RESET ALL, UNLISTEN ...).

    Nothing here leaves session state behind: settings are fixed at connect time, queries use SET LOCAL inside
    transactions, advisory locks are transaction-scoped, and LISTEN runs on dedicated connections only.
    """


@asynccontextmanager
async def _discarded_when_broken(connection: Connection) -> AsyncIterator[None]:
    """Terminate a borrowed connection whose protocol state asyncpg lost track of, rather than pool it again.

    The pool's reset (:func:`_keep_session_state`) sends nothing, so nothing else would find out before the next
    borrower's first query fails the same way.
    """
    try:
        yield
    except asyncpg.InternalClientError as exc:
        # Expected while PostgreSQL restarts; logged so that an asyncpg fault of this kind at other times shows.
        _log.warning("discarded a pooled connection whose protocol state asyncpg lost: %s", exc)
        connection.terminate()
        raise


class Database:
    """Owns the pools: ``db.connection()`` for writes, ``db.read_connection()`` for replay reads."""

    def __init__(self, config: PoolConfig) -> None:
        self._config = config
        self._pool: asyncpg.Pool | None = None
        self._read_pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Create the pools; raises StoreUnavailableError when PostgreSQL cannot be reached."""
        with translate_errors():
            self._pool = await self._create(self._config.dsn)
            if self._config.read_dsn:
                self._read_pool = await self._create(self._config.read_dsn)

    async def _create(self, dsn: str) -> asyncpg.Pool:
        config = self._config
        return await asyncpg.create_pool(
            dsn,
            min_size=config.min_size,
            max_size=config.max_size,
            command_timeout=config.command_timeout_s,
            timeout=config.connect_timeout_s,
            reset=_keep_session_state,
            server_settings={
                "application_name": "msr",
                "statement_timeout": str(config.statement_timeout_ms),
                # JIT compilation costs more than it saves on our short, index-driven queries.
                "jit": "off",
            },
        )

    async def close(self) -> None:
        """Close the pools, waiting briefly for borrowed connections."""
        for pool in (self._read_pool, self._pool):
            if pool is not None:
                try:
                    await asyncio.wait_for(pool.close(), timeout=5.0)
                except TimeoutError:
                    pool.terminate()
        self._pool = self._read_pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        """The primary pool; only the store's repositories use it."""
        if self._pool is None:
            raise StoreUnavailableError("database pool is not open")
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """Borrow a connection of the primary."""
        with translate_errors():
            async with self.pool.acquire() as conn, _discarded_when_broken(conn):
                yield conn

    @asynccontextmanager
    async def read_connection(self) -> AsyncIterator[Connection]:
        """Borrow a connection for replay reads: the read replica when configured and caught up, else the primary.

        A read never sees less than what was committed when it began, whichever replica of ours committed it and
        answered the client: it asks the primary for its WAL position, then waits (up to ``read_wait_ms``) for the
        replica to have replayed that far; a replica still behind then is skipped and the primary answers.
        """
        if self._read_pool is None:
            async with self.connection() as conn:
                yield conn
            return
        with translate_errors():
            async with self.pool.acquire() as primary, _discarded_when_broken(primary):
                committed = await primary.fetchval(_Q["primary_wal_position"])
            async with self._read_pool.acquire() as replica, _discarded_when_broken(replica):
                caught_up = await self._replayed(replica, committed)
                if caught_up:
                    self._told("replica")
                    yield replica
        if not caught_up:
            self._told("primary")
            async with self.connection() as conn:
                yield conn

    async def _replayed(self, replica: Connection, lsn: str) -> bool:
        deadline = time.monotonic() + self._config.read_wait_ms / 1000
        pause = 0.001
        while not await replica.fetchval(_Q["replayed_up_to"], lsn):
            if time.monotonic() >= deadline:
                return False
            # Streaming replication usually catches up within milliseconds: poll quickly, then back off.
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.02)
        return True

    def _told(self, target: str) -> None:
        if self._config.on_read is not None:
            self._config.on_read(target)

    async def ping(self, timeout_s: float = 1.0) -> bool:
        """Whether the primary answers ``SELECT 1`` within the timeout."""
        try:
            async with asyncio.timeout(timeout_s), self.connection() as conn:
                await conn.fetchval("SELECT 1")
        except (StoreUnavailableError, TimeoutError, asyncpg.PostgresError):
            return False
        return True
