"""A reconnect storm: many viewers of one session, each its own user, dropped at once (TCP cut, no close frame)
and reconnecting together with ``resume``; the Watchers check that nothing is lost or repeated."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from websockets.asyncio.client import connect

from tests.live.support import TENANT, History, Watcher, open_socket, ws_url
from tests.support import bearer, make_token

_OPEN_TIMEOUT_S = 120.0
_BEHIND_FRAMES = 30
"""Messages a viewer may have received and not applied at the cut: well within the server's history of its frames
(100 by default)."""


@dataclass
class StormFigures:
    """What the storm measured."""

    viewers: int
    seconds_to_all_playing: float
    median_s: float
    fresh_states: int
    """Viewers that needed a fresh ``state`` (their kept viewer was not found): 0 when the parked viewers did their
    job."""


def viewer_token(n: int) -> str:
    """An admin of the tenant (who may watch any session of it), a user of their own."""
    return make_token(f"storm-viewer-{n}", TENANT, admin=True)


async def _open(url: str, session_id: str, token: str) -> Watcher:
    ws = await connect(
        ws_url(url, session_id),
        additional_headers=bearer(token),
        compression=None,
        open_timeout=_OPEN_TIMEOUT_S,
        max_queue=None,
    )
    return Watcher(ws)


async def _playing(watcher: Watcher, timeout_s: float) -> None:
    await watcher.until(lambda m: m["type"] == "events", timeout_s)


@dataclass
class Crowd:
    """Viewers that keep reading and applying their frames, as browsers do, until they are cut."""

    watchers: list[Watcher]
    readers: list[asyncio.Task[None]]
    reading: list[bool]

    async def stop_reading(self) -> None:
        # Cancelling a websockets recv() loses nothing: a frame is either applied or still queued. Python 3.11's
        # wait_for may swallow a cancellation that races a result, hence the flag as well.
        self.reading[0] = False
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


async def _keep_reading(watcher: Watcher, reading: list[bool]) -> None:
    while reading[0]:
        await watcher.recv(timeout=3600)


async def join(url: str, session_id: str, count: int, history: History, timeout_s: float) -> Crowd:
    """``count`` viewers, each with its state and at least one frame (joined a few at a time), reading on."""
    gate = asyncio.Semaphore(50)
    readers: list[asyncio.Task[None]] = []
    reading = [True]

    async def one(n: int) -> Watcher:
        async with gate:
            watcher = await _open(url, session_id, viewer_token(n))
            watcher.history = history
            watcher.check_events = False
            await watcher.state_complete(timeout_s)
            await _playing(watcher, timeout_s)
            readers.append(asyncio.create_task(_keep_reading(watcher, reading)))
            return watcher

    try:
        watchers = list(await asyncio.gather(*(one(n) for n in range(count))))
    except BaseException:
        await Crowd([], readers, reading).stop_reading()
        raise
    return Crowd(watchers, readers, reading)


async def _caught_up(watchers: list[Watcher], timeout_s: float) -> None:
    """Wait until every viewer has applied all but a few of the frames that reached it.

    The crowd is one Python process: busy joining or starved of CPU, it applies its viewers' frames late, and a viewer
    behind by more than the server's history of its frames needs a fresh state when it resumes. Browsers keep up.
    """
    deadline = time.monotonic() + timeout_s
    # websockets' queue of the frames received and not read yet.
    while any(len(watcher.ws.recv_messages.frames.queue) > _BEHIND_FRAMES for watcher in watchers):
        assert time.monotonic() < deadline, "the viewers did not catch up with their frames"
        await asyncio.sleep(0.2)


async def drop_and_resume(url: str, session_id: str, crowd: Crowd, timeout_s: float) -> StormFigures:
    """Cut every connection at once, then reconnect them all together with ``resume``; each must play again."""
    watchers = crowd.watchers
    await _caught_up(watchers, timeout_s)
    await crowd.stop_reading()
    for watcher in watchers:
        watcher.ws.transport.abort()
    await asyncio.gather(*(watcher.ws.wait_closed() for watcher in watchers))
    states_before = [watcher.states for watcher in watchers]
    started = time.monotonic()

    async def back(n: int, watcher: Watcher) -> float:
        watcher.ws = (await _open(url, session_id, viewer_token(n))).ws
        await watcher.send(type="resume", seq=watcher.seq)
        # Watcher.apply asserts that every state or events frame continues the seq and the position exactly.
        await _playing(watcher, timeout_s)
        return time.monotonic() - started

    times = await asyncio.gather(*(back(n, watcher) for n, watcher in enumerate(watchers)))
    fresh = sum(watcher.states > before for watcher, before in zip(watchers, states_before, strict=True))
    return StormFigures(len(watchers), max(times), statistics.median(times), fresh)


@asynccontextmanager
async def playing(url: str, session_id: str, history: History) -> AsyncIterator[Watcher]:
    """The session's owner, connected, with playback started at speed 1."""
    async with open_socket(url, session_id, make_token("viewer-1", TENANT)) as ws:
        owner = Watcher(ws, history)
        await owner.state_complete()
        await owner.send(type="start", speed=1)
        yield owner


async def leave(crowd: Crowd) -> None:
    """Every viewer closes its connection."""
    await asyncio.gather(*(watcher.ws.close() for watcher in crowd.watchers))
