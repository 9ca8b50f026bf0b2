"""Servers a fault test starts itself, so that it may kill, restart or starve them (never the machine's shared ones).

Each keeps its address (port, socket folder) across restarts, as a restarted server in a deployment does.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from app.embedded import EmbeddedPostgres
from tests.support import embedded_postgres, free_port

RECOVERY_S = 10.0
"""The issue's bound: everything works again within 10 s after a dependency is back."""


class PrivateRedis:
    """A redis-server on a free loopback port, without persistence: killing it loses everything (a flush)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self._folder = folder
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        self._folder.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self._folder)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            assert self._process.poll() is None, "redis-server exited"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return self.url
            assert time.monotonic() < deadline, "redis-server did not answer PING"
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: the connections drop at once and its data is gone."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None


@contextlib.contextmanager
def private_redis(folder: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server to start, kill and restart (make redis-server installs it)")
    redis = PrivateRedis(folder)
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


@contextlib.contextmanager
def private_postgres() -> Iterator[tuple[EmbeddedPostgres, str]]:
    """An embedded PostgreSQL of the test's own (stopped with ``stop()``, started again with ``restart()``)."""
    with embedded_postgres("msr-fault-pg-") as started:
        yield started


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], within_s: float = RECOVERY_S, what: str = ""
) -> float:
    """Poll ``check`` until it holds; the seconds it took (failing past ``within_s``)."""
    began = time.monotonic()
    while True:
        with contextlib.suppress(httpx.TransportError):
            result = check()
            if await result if inspect.isawaitable(result) else result:
                return time.monotonic() - began
        assert time.monotonic() - began < within_s, f"not within {within_s} s: {what}"
        await asyncio.sleep(0.05)
