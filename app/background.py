"""Long-running tasks of a replica, started with the app and cancelled and awaited on shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

_log = logging.getLogger("msr.background")


class BackgroundTasks:
    """Owns the replica's periodic loops so that none is left orphaned at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def every(self, name: str, period_s: float, step: Callable[[], Awaitable[None]]) -> None:
        """Run ``step`` every ``period_s`` seconds; a failing step is logged and retried next period."""

        async def loop() -> None:
            while True:
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    _log.exception("background step %s failed", name)
                await asyncio.sleep(period_s)

        task = asyncio.create_task(loop(), name=f"msr:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Cancel every loop and wait until each has finished."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
