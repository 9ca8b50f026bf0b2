"""Viewers coming and going, written to the sessions' activity logs in batches.

A reconnect storm attaches and detaches a thousand viewers within seconds. Writing each entry as it happened put a
database round trip on every connection's way in (and another on its way out), all through the pool of
``MSR_DB_POOL_MAX`` connections: the last viewers of a storm waited seconds for the others' writes before their
``hello``. The entries keep the instant they happened and are written about once a second (the registry's upkeep),
in one statement. At most :data:`MAX_PENDING` wait while PostgreSQL is unreachable; past that the oldest are dropped
(with a warning), so an outage cannot grow memory.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any, Final

from store.errors import StoreUnavailableError
from store.playback import ActivityEntry, PlaybackStore

_log = logging.getLogger("msr.playback")

MAX_PENDING: Final = 100_000
"""Most entries waiting to be written."""


class ViewerLog:
    """The viewers' activity entries not written yet."""

    def __init__(self, store: PlaybackStore) -> None:
        self._store = store
        self._pending: deque[ActivityEntry] = deque()
        self._dropped = 0

    def note(
        self, session_id: uuid.UUID, tenant_id: uuid.UUID, actor: str, action: str, details: dict[str, Any]
    ) -> None:
        """An entry to write at the next :meth:`flush`, dated now."""
        if len(self._pending) >= MAX_PENDING:
            self._pending.popleft()
            self._dropped += 1
        self._pending.append(ActivityEntry(session_id, tenant_id, actor, action, details, datetime.now(UTC)))

    async def flush(self) -> None:
        """Write every pending entry; they wait for the next flush when PostgreSQL is unreachable."""
        if self._dropped:
            _log.warning("dropped %d viewer activity entries: PostgreSQL was unreachable too long", self._dropped)
            self._dropped = 0
        if not self._pending:
            return
        entries = list(self._pending)
        self._pending.clear()
        try:
            await self._store.log_activities(entries)
        except StoreUnavailableError:
            # Put them back in front of the newer ones, within the bound.
            self._pending.extendleft(reversed(entries[-(MAX_PENDING - len(self._pending)) :]))
            raise
