"""A rolling restart behind nginx: the three replicas are stopped (SIGTERM) and started again one after another
while viewers watch two sessions playing at 10x. Each viewer reconnects through the proxy and sends ``resume``
whenever its replica closes it; throughout, its ``seq`` has no gap or repeat, every frame continues the last one,
and its picture is the reference model's (``Watcher`` checks all of it on every message).

The longest pause a viewer saw, and how many fresh states the reconnects cost, are printed (``pytest -s``):
they are measurements, not assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import time
from datetime import UTC, datetime

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.deploy.support import NGINX, Fleet, Replica, nginx
from tests.live.support import TENANT, Watcher, ingest, make_history, new_session, of_type, open_socket, recent_start
from tests.support import make_token

pytestmark = pytest.mark.skipif(
    not os.access(NGINX, os.X_OK), reason=f"{NGINX} is missing: `make nginx` installs Debian's nginx-light"
)

SPEED = 10.0
LEASE_S = 2.0
RECONNECT_DEADLINE_S = 60.0
TOKEN = make_token("viewer-1", TENANT)


class Viewer:
    """A watcher that reconnects through the proxy and resumes whenever its connection closes."""

    def __init__(self, proxy: str, session_id: str, watcher: Watcher) -> None:
        self.proxy, self.session_id, self.watcher = proxy, session_id, watcher
        self.reconnects = 0

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.watcher.recv(timeout=RECONNECT_DEADLINE_S)
            except ConnectionClosed:
                await self._reconnect()

    async def _reconnect(self) -> None:
        deadline = time.monotonic() + RECONNECT_DEADLINE_S
        while True:
            with contextlib.suppress(OSError, InvalidStatus):
                ws = await open_socket(self.proxy, self.session_id, TOKEN)
                await ws.send(f'{{"type":"resume","seq":{self.watcher.seq}}}')
                self.watcher.ws = ws
                self.reconnects += 1
                return
            assert time.monotonic() < deadline, "could not reconnect through the proxy"
            await asyncio.sleep(0.1)

    def longest_pause(self) -> tuple[float, str]:
        """The longest time between two frames, and the wall-clock time (UTC) it began, to read beside the logs."""
        arrivals = [arrived for arrived, _ in self.watcher.frames]
        gap, began = max(((b - a, a) for a, b in itertools.pairwise(arrivals)), default=(0.0, time.monotonic()))
        wall = datetime.fromtimestamp(time.time() - time.monotonic() + began, UTC)
        return round(gap, 2), wall.strftime("%H:%M:%S.%f")[:-3]


async def restart(fleet: Fleet, replica: Replica, name: str) -> Replica:
    replica.process.send_signal(signal.SIGTERM)
    exit_code = await asyncio.to_thread(replica.process.wait, 60)
    assert exit_code == 0, replica.log.read_text(errors="replace")
    again = fleet.start(name, replica.port)
    await again.ready()
    return again


async def test_a_rolling_restart_keeps_every_viewer_contiguous_and_true(settings, tmp_path):
    history = make_history(recent_start(), seconds=600, step_ms=250, entities=15)
    fleet = Fleet(settings, tmp_path, MSR_PLAYBACK_LEASE_S=str(LEASE_S), MSR_WS_RESUME_WAIT_MS="300")
    try:
        running = [fleet.start(f"replica-{n}") for n in range(3)]
        await asyncio.gather(*(replica.ready() for replica in running))
        with nginx([replica.url for replica in running], tmp_path) as proxy:
            async with httpx.AsyncClient(base_url=proxy, timeout=60) as client:
                await ingest(client, history)
                sessions = [await new_session(client), await new_session(client)]
            viewers = []
            for session_id in sessions:
                for _ in range(2):
                    watcher = Watcher(await open_socket(proxy, session_id, TOKEN), history)
                    await watcher.state_complete()
                    viewers.append(Viewer(proxy, session_id, watcher))
            for n, session_id in enumerate(sessions):
                controller = next(v for v in viewers if v.session_id == session_id).watcher
                await controller.send(type="start", speed=SPEED, id=f"go-{n}")
                assert (await controller.until(of_type("status", reply_to=f"go-{n}")))["state"] == "playing"

            stop = asyncio.Event()
            watching = [asyncio.create_task(viewer.watch(stop)) for viewer in viewers]
            try:
                for n in range(len(running)):
                    running[n] = await restart(fleet, running[n], f"replica-{n}")
                # Every viewer goes on after the last restart: it has frames from the new fleet.
                restarted_at = time.monotonic()
                async with asyncio.timeout(RECONNECT_DEADLINE_S):
                    while not all(v.watcher.frames and v.watcher.frames[-1][0] > restarted_at + 1 for v in viewers):
                        await asyncio.sleep(0.05)
            finally:
                stop.set()
                for task in watching:
                    task.cancel()
                results = await asyncio.gather(*watching, return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)]
            assert not errors, errors
            for viewer in viewers:
                viewer.watcher.assert_picture_true()
                assert viewer.reconnects >= 1
                await viewer.watcher.ws.close()
            print(
                f"\nrolling restart at {SPEED}x: longest pause per viewer "
                f"{[v.longest_pause() for v in viewers]} (s, from); fresh states "
                f"{[v.watcher.states - 1 for v in viewers]}; reconnects {[v.reconnects for v in viewers]}"
            )
    finally:
        fleet.close()
