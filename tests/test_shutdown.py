"""SIGTERM ends a real ``msr serve`` within 3 s even when its Redis, its PostgreSQL, or both died before, with a
session playing to a viewer (a lease held, the Redis subscription open), and leaves no task behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.embedded import EmbeddedPostgres
from tests.live.support import TENANT, Watcher, ingest, make_history, new_session, open_socket, recent_start
from tests.support import TEST_SECRET, free_port, make_token, ready

EXIT_S = 3.0
"""The whole shutdown's bound (the issue's): every step must end at once when its dependency is dead."""


@contextlib.contextmanager
def _redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A redis-server of this test's own, on a free port (so the test may kill it)."""
    port = free_port()
    folder = tmp_path / "redis"
    folder.mkdir()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    try:
        yield process, f"redis://127.0.0.1:{port}/0"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def _postgres() -> Iterator[tuple[Path, str]]:
    """A PostgreSQL of this test's own (so the test may kill it); its data folder and URL."""
    # Not under pytest's basetemp (mode 0700): as root, the embedded server runs as its own system user.
    folder = Path(tempfile.mkdtemp(prefix="msr-shutdown-pg-"))
    server = EmbeddedPostgres(folder)
    url = server.start()
    try:
        yield server.data_dir, url
    finally:
        with contextlib.suppress(Exception):
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _kill_postgres(data_dir: Path) -> None:
    pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        # Its backends die with it (they notice the postmaster is gone); do not wait on them here.
        os.kill(pid, 0)


# "both" runs by default; one dependency dead at a time is the heavy variant (`make test-faults`).
@pytest.mark.parametrize(
    "dead",
    [pytest.param("redis", marks=pytest.mark.faults), pytest.param("postgres", marks=pytest.mark.faults), "both"],
)
async def test_sigterm_ends_the_server_at_once_whatever_died_before(dead, tmp_path, settings):
    with contextlib.ExitStack() as stack:
        redis_process, redis_url = stack.enter_context(_redis(tmp_path))
        database_url = settings.database_url
        pg_folder = None
        if dead != "redis":
            pg_folder, database_url = stack.enter_context(_postgres())
        port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("MSR_")} | {
            "MSR_PORT": str(port),
            "MSR_DATABASE_URL": database_url,
            "MSR_REDIS_URL": redis_url,
            "MSR_DATA_DIR": str(tmp_path / "data"),
            "MSR_JWT_SECRET": TEST_SECRET,
            "MSR_LOG_LEVEL": "DEBUG",
            "PYTHONFAULTHANDLER": "1",
        }
        log = tmp_path / "server.log"
        with log.open("wb") as sink:
            server = subprocess.Popen(
                [sys.executable, "-X", "dev", "-m", "app.cli", "serve"], env=env, stdout=sink, stderr=subprocess.STDOUT
            )
        try:
            url = f"http://127.0.0.1:{port}"
            await ready(server, url, log)
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                await ingest(client, make_history(recent_start(), seconds=5))
                session_id = await new_session(client)
            ws = await open_socket(url, session_id, make_token("viewer-1", TENANT))
            watcher = Watcher(ws)
            await watcher.state_complete()
            await watcher.send(type="start", speed=0.5)
            if dead in ("redis", "both"):
                redis_process.kill()
                redis_process.wait(timeout=10)
            if pg_folder is not None:
                _kill_postgres(pg_folder)
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=EXIT_S)
            except subprocess.TimeoutExpired:
                server.send_signal(signal.SIGABRT)
                server.wait(timeout=10)
                pytest.fail(f"still running {EXIT_S} s after SIGTERM:\n{log.read_text(errors='replace')[-6000:]}")
            await ws.close()
        finally:
            if server.poll() is None:
                server.kill()
                server.wait(timeout=10)
        output = log.read_text(errors="replace")
        assert server.returncode == 0, output[-4000:]
        # asyncio (in dev mode) reports a task destroyed while pending, or never retrieved exception.
        assert "Task was destroyed but it is pending" not in output
        assert "exception was never retrieved" not in output
