"""Export files of replay windows, kept in PostgreSQL so that any replica can serve a download.

An export's file is stored as pieces of at most :data:`PIECE_BYTES` in ``export_chunks`` (piece 0 first), appended
by the export job as it writes (so the job never holds the file in memory) and read back piece by piece for a
download, from any byte offset (HTTP ``Range``). The file's rows go with its job (``ON DELETE CASCADE``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from store import queries
from store.events import EventFilters
from store.pool import Database

_Q = queries.load("exports.sql")
_PENDING_BATCH = 50

PIECE_BYTES = 1 << 20
"""Size of every stored piece of a file but its last."""


class ExportFiles:
    """Writes and reads the stored files of export jobs."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def count_events(self, tenant_id: uuid.UUID, start: datetime, end: datetime, filters: EventFilters) -> int:
        """How many events an export of ``(start, end]`` with ``filters`` holds (those of ``events_between``)."""
        async with self._db.read_connection() as conn:
            count: int = await conn.fetchval(_Q["count_events"], tenant_id, start, end, *filters.arguments())
        return count

    async def pending(self) -> list[tuple[uuid.UUID, str]]:
        """The export jobs that are scheduled or running, oldest first: ``(id, status)``."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(_Q["pending_exports"], _PENDING_BATCH)
        return [(row["id"], row["status"]) for row in rows]

    async def append(self, job_id: uuid.UUID, seq: int, data: bytes) -> None:
        """Store piece ``seq`` of the job's file (at most :data:`PIECE_BYTES`)."""
        if len(data) > PIECE_BYTES:
            raise ValueError(f"a piece holds at most {PIECE_BYTES} bytes")
        async with self._db.connection() as conn:
            await conn.execute(_Q["append_piece"], job_id, seq, data)

    async def delete(self, job_id: uuid.UUID) -> None:
        """Remove the job's file (all of its pieces)."""
        async with self._db.connection() as conn:
            await conn.execute(_Q["delete_pieces"], job_id)

    async def read(self, job_id: uuid.UUID, first: int, last: int) -> AsyncIterator[bytes]:
        """Bytes ``first..last`` (inclusive, within the file) of the job's file, a piece at a time."""
        if not 0 <= first <= last:
            raise ValueError("need 0 <= first <= last")
        offset = first
        while offset <= last:
            seq, within = divmod(offset, PIECE_BYTES)
            length = min(PIECE_BYTES - within, last - offset + 1)
            async with self._db.read_connection() as conn:
                data: bytes | None = await conn.fetchval(_Q["read_piece"], job_id, seq, within + 1, length)
            if not data:
                raise LookupError(f"export {job_id} has no byte {offset}")
            yield data
            offset += len(data)


class PieceBuffer:
    """A write-only, append-only file in memory that gives its bytes away in pieces of :data:`PIECE_BYTES`.

    Encoders (the MCAP writer among them) write into it as into a file; ``tell`` is the bytes written so far.
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self._written = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._pending += data
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def full_pieces(self) -> list[bytes]:
        """The complete pieces written since the last call, to be stored; the rest stays buffered."""
        taken = []
        while len(self._pending) >= PIECE_BYTES:
            taken.append(bytes(self._pending[:PIECE_BYTES]))
            del self._pending[:PIECE_BYTES]
        return taken

    def last_piece(self) -> bytes:
        """What remains once everything was written (possibly empty)."""
        rest = bytes(self._pending)
        self._pending.clear()
        return rest
