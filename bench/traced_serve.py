"""``msr serve`` with tracemalloc on demand: each SIGUSR1 writes a heap snapshot, for the G10 breakdown per viewer.

Run as ``python -m bench.traced_serve`` with ``MSR_BENCH_TRACE_DIR`` set (``bench.playback --idle --trace DIR``
does): the first signal starts tracing (so the snapshots hold only what was allocated since, and the server starts
at its usual speed), and every signal writes ``DIR/0.snap``, ``DIR/1.snap``, ... in order. tracemalloc slows the
server and adds its own overhead to every block, so RSS figures are never taken from a traced server.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

from app.cli import main

_FRAMES = 1
"""One frame: the breakdown is by line, and deeper tracebacks slow a server with thousands of connections too much."""


def _snapshots(directory: Path) -> None:
    numbers = itertools.count()

    def dump(signum: int, frame: FrameType | None) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(_FRAMES)
        path = directory / f"{next(numbers)}.snap"
        tracemalloc.take_snapshot().dump(str(path.with_suffix(".tmp")))
        path.with_suffix(".tmp").rename(path)

    signal.signal(signal.SIGUSR1, dump)


if __name__ == "__main__":
    _snapshots(Path(os.environ["MSR_BENCH_TRACE_DIR"]))
    sys.exit(main(["serve"]))
