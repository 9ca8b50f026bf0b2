"""Viewers of the fault tests: a session playing at 10x, watched on two replicas by viewers that check every frame
(tests/live/support.py's Watcher: seq contiguous, each frame continuing the last, the picture the reference's)."""

from __future__ import annotations

import contextlib
import itertools
import time

from tests.live.support import TENANT, History, Watcher, of_type, open_socket
from tests.support import make_token

TOKEN = make_token("viewer-1", TENANT)


async def playing(url_a: str, url_b: str, session_id: str, history: History) -> tuple[Watcher, Watcher]:
    """A viewer on A (the owner) and one on B (a follower), playing at 10x."""
    on_a = Watcher(await open_socket(url_a, session_id, TOKEN), history)
    await on_a.state_complete()
    on_b = Watcher(await open_socket(url_b, session_id, TOKEN), history)
    await on_b.state_complete()
    await on_b.send(type="start", speed=10, id="go")
    await on_b.until(of_type("status", reply_to="go"))
    for viewer in (on_a, on_b):
        await viewer.until(lambda m, v=viewer: m["type"] == "events" and len(v.frames) >= 5)
    return on_a, on_b


async def command_answered(viewer: Watcher, request: str, **command) -> bool:
    """Send a command; whether the owner applied it (False when refused as retryable while a dependency is down)."""
    await viewer.send(id=request, **command)
    reply = await viewer.until(lambda m: m.get("reply_to") == request and m["type"] in ("status", "error"))
    if reply["type"] == "error":
        assert reply.get("retryable", True), reply
        return False
    return True


async def watch(viewer: Watcher, until: float) -> None:
    """Read (and check) whatever the viewer receives until the monotonic instant ``until``, so that its frames'
    arrival times are when they came, not when the test got round to reading them."""
    while (left := until - time.monotonic()) > 0:
        with contextlib.suppress(TimeoutError):
            await viewer.recv(timeout=left)


def longest_pause(viewer: Watcher) -> float:
    """The longest time between two frames the viewer received."""
    arrivals = [arrived for arrived, _ in viewer.frames]
    return max((later - earlier for earlier, later in itertools.pairwise(arrivals)), default=0.0)
