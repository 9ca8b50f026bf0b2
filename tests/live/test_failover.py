"""Across replicas: viewers on any replica see the same playback; when the replica that owns a session's clock is
killed (SIGKILL) or shut down (SIGTERM), another takes over within the lease time and its viewers go on at the
right position with no gap in seq; commands from any replica reach the owner."""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.live.support import (
    TENANT,
    Watcher,
    ingest,
    make_history,
    new_session,
    of_type,
    open_socket,
    parse_time,
    recent_start,
)
from tests.support import TEST_SECRET, free_port, make_token, ready

LEASE_S = 1.5
TOKEN = make_token("viewer-1", TENANT)


@contextlib.contextmanager
def replica(
    settings, tmp_path: Path, name: str, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("MSR_")} | {
        "MSR_PORT": str(port),
        "MSR_DATABASE_URL": settings.database_url,
        "MSR_REDIS_URL": settings.redis_url,
        "MSR_REDIS_PREFIX": settings.redis_prefix,
        "MSR_DATA_DIR": str(tmp_path / name),
        "MSR_JWT_SECRET": TEST_SECRET,
        "MSR_PLAYBACK_LEASE_S": str(LEASE_S),
        "MSR_WS_RESUME_WAIT_MS": "100",
    }
    env |= extra_env or {}
    log = tmp_path / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        yield process, f"http://127.0.0.1:{port}", log
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


@pytest.fixture
def history():
    return make_history(recent_start(), seconds=30)


# A graceful hand-over is also what the rolling restart test does on every replica: the heavy variant here.
@pytest.mark.parametrize(
    "stop", [signal.SIGKILL, pytest.param(signal.SIGTERM, marks=pytest.mark.faults)], ids=["killed", "shut-down"]
)
async def test_a_viewer_on_another_replica_keeps_playing_when_the_owner_dies(settings, tmp_path, history, stop):
    with replica(settings, tmp_path, "a") as (a, a_url, a_log), replica(settings, tmp_path, "b") as (b, b_url, b_log):
        await asyncio.gather(ready(a, a_url, a_log), ready(b, b_url, b_log))
        async with httpx.AsyncClient(base_url=a_url, timeout=30) as client:
            await ingest(client, history)
            session_id = await new_session(client)
        # The first viewer, on A, makes A the owner; the second, on B, follows.
        on_a = Watcher(await open_socket(a_url, session_id, TOKEN), history)
        await on_a.state_complete()
        on_b = Watcher(await open_socket(b_url, session_id, TOKEN), history)
        await on_b.state_complete()
        # A command from B's viewer reaches A, the owner; both viewers see the same playback.
        speed = 2.0
        await on_b.send(type="start", speed=speed, id="go")
        started_at = time.monotonic()
        assert (await on_b.until(of_type("status", reply_to="go")))["state"] == "playing"
        await asyncio.gather(
            on_a.until(lambda m: m["type"] == "events" and len(on_a.frames) >= 10),
            on_b.until(lambda m: m["type"] == "events" and len(on_b.frames) >= 10),
        )
        on_a.assert_picture_true()
        on_b.assert_picture_true()
        states_before = on_b.states

        a.send_signal(stop)
        killed_at = time.monotonic()
        # A graceful shutdown closes A's viewers (1012) and gives the lease back; a kill just drops them.
        with pytest.raises(ConnectionClosed):
            await on_a.until(lambda m: False)
        exit_code = await asyncio.to_thread(a.wait, 30)
        assert exit_code == (0 if stop == signal.SIGTERM else -signal.SIGKILL), a_log.read_text(errors="replace")

        # B notices within the lease time, takes over, and its viewer goes on: Watcher checks seq and from/to.
        await on_b.until(lambda m: m["type"] == "events" and on_b.frames[-1][0] > killed_at + 0.5, timeout=LEASE_S * 4)
        resumed_at = on_b.frames[-1][0]
        assert resumed_at - killed_at < LEASE_S + 2.0
        await on_b.until(lambda m: m["type"] == "events" and on_b.frames[-1][0] > resumed_at + 1.0)
        arrived, last = on_b.frames[-1]
        expected = history.first + timedelta(seconds=(arrived - started_at) * speed)
        assert abs((parse_time(last["to"]) - expected).total_seconds()) < 0.6 * speed
        assert on_b.states == states_before, "no fresh state: the new owner sent the frames in between"
        on_b.assert_picture_true()

        # Commands from B reach the new owner (B itself).
        await on_b.send(type="stop", id="halt")
        assert (await on_b.until(of_type("status", reply_to="halt")))["state"] == "paused"
        await on_b.ws.close()
        assert "takes over session" in b_log.read_text(errors="replace")
