"""Giving memory back once a burst of viewers is gone.

A reconnect storm (docs/limits.md, "Reconnect storm") closes a thousand connections within seconds, twice (the cut,
then the viewers leaving), and their thousand kept viewers go at the end of the grace. What each closed connection
leaves (uvicorn's protocol and transport, the handshake, Litestar's socket) holds itself in reference cycles, which
only a full collection of the cyclic garbage collector frees, and a quiet server runs one seldom: 1,000 viewers left
250k memory blocks (measured) for minutes. And glibc keeps what its heap got back for reuse.

So, once :data:`RELEASE_AFTER` viewers ended (dropped at the end of their grace, or not kept at all) and no viewer
attached since the last upkeep, one full collection, then glibc's ``malloc_trim(0)`` (measured: 11 MiB back of a
55 MiB excess, in 3 ms; absent outside glibc, then skipped). A viewer taken over by a ``resume`` has not ended: a
storm's reconnects never set off the collection (a pause of 0.2-0.8 s with a thousand viewers on a loaded 2-core
machine), the end of its grace does, when nothing else goes on. What the RSS keeps after that is pymalloc's arenas,
each pinned by a few live objects (fragmentation), which neither can give back; the live heap
(``msr_python_heap_blocks``) is back to its level before the burst.

What start-up made (modules, the application and its routes, the pools) lives as long as the process; at the end
of start-up it is frozen out of the collector's sight (:func:`freeze_startup`), so that no full collection, this
module's or Python's own, walks it again.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import time
from collections.abc import Callable
from typing import Final

_log = logging.getLogger("msr.playback")

RELEASE_AFTER: Final = 256
"""Viewers that must have ended since the last release before the next one."""


def _glibc_trim() -> Callable[[], object] | None:
    """The C library's ``malloc_trim(0)``: glibc's, absent from others (musl)."""
    # The process's own symbols include its C library's, without looking for the library's file.
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is None:
        return None
    return lambda: trim(0)


class MemoryRelease:
    """Counts the viewers that ended; releases memory once a burst of them is over (see the module)."""

    def __init__(self, after: int = RELEASE_AFTER) -> None:
        self._after = after
        self._ended = 0
        self._attached = False
        self._trim = _glibc_trim()

    def attached(self) -> None:
        """A viewer attached: a burst may be under way."""
        self._attached = True

    def ended(self, count: int = 1) -> None:
        """``count`` viewers ended: dropped at the end of their grace, or not kept when their connection closed."""
        self._ended += count

    def upkeep(self) -> None:
        """Periodic (the registry's upkeep): release memory when a burst of ended viewers is over."""
        attached, self._attached = self._attached, False
        if self._ended < self._after or attached:
            return
        ended, self._ended = self._ended, 0
        started = time.perf_counter()
        collected = gc.collect()
        collected_at = time.perf_counter()
        if self._trim is not None:
            self._trim()
        _log.info(
            "%d viewers ended: collected %d objects in %.0f ms, trimmed the heap in %.0f ms",
            ended,
            collected,
            (collected_at - started) * 1000,
            (time.perf_counter() - collected_at) * 1000,
        )


def freeze_startup() -> None:
    """At the end of start-up: keep every object alive now out of all later collections.

    About 100k objects, which each full collection walked in 25-33 ms on the quiet 2-core machine and 40-57 ms on
    the loaded one (measured), the floor of every collection's pause. A collection first, so that start-up's
    garbage is freed, not frozen. The price: a frozen object that later ends up in unreachable reference cycles is
    never freed (say, a pool connection opened at start-up and discarded after a PostgreSQL restart: a few
    kilobytes, once per such connection).
    """
    gc.collect()
    gc.freeze()


def thaw() -> None:
    """At shutdown: give the frozen objects back to the collector (a test process runs many servers in turn)."""
    gc.unfreeze()
