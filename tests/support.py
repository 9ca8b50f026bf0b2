"""Test helpers: real servers on loopback, tokens, database URLs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import jwt
import uvicorn

from app.asgi import create_app
from app.embedded import EmbeddedPostgres
from app.serving import uvicorn_options
from app.settings import Settings

_log = logging.getLogger("tests")
TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


def with_database(dsn: str, database: str) -> str:
    """The same DSN pointing at another database."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


async def admin_execute(base_url: str, statement: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the server of ``base_url``."""
    conn = await asyncpg.connect(base_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@asynccontextmanager
async def scratch_database(base_url: str, prefix: str, template: str | None = None) -> AsyncIterator[str]:
    """A new database (empty, or a copy of ``template``) for the block; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    await admin_execute(base_url, f'CREATE DATABASE "{name}"{clause}')
    try:
        yield with_database(base_url, name)
    finally:
        await admin_execute(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_token(
    user: str = "user-1",
    tenant: uuid.UUID | str | None = None,
    *,
    admin: bool = False,
    secret: str = TEST_SECRET,
    ttl: int = 3600,
    algorithm: str = "HS256",
    headers: dict[str, Any] | None = None,
    **extra: Any,
) -> str:
    """A signed token with the default claim names."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user,
        "tenant_id": str(tenant or uuid.UUID(int=1)),
        "roles": ["admin"] if admin else [],
        "iat": now,
        "exp": now + ttl,
    }
    claims.update(extra)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, secret, algorithm=algorithm, headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class RunningServer:
    """A real MSR server on a loopback port."""

    url: str
    settings: Settings
    server: uvicorn.Server

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30, **kwargs)


class _InProcessServer(uvicorn.Server):
    """uvicorn in the test's own loop, leaving the process's signal handlers alone."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        # uvicorn looks for should_exit every 100 ms; every 10 ms here, so that a test's server stops at once.
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864_000
            await asyncio.sleep(0.01)


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[RunningServer]:
    """Run ``create_app(settings)`` under uvicorn on a free port until the block exits."""
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=0,
        lifespan="on",
        log_config=None,
        **uvicorn_options(settings),
    )
    server = _InProcessServer(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield RunningServer(f"http://127.0.0.1:{port}", settings, server)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)


@contextmanager
def outside_basetemp(prefix: str) -> Iterator[Path]:
    """A new folder for an embedded PostgreSQL's data, removed afterwards.

    Not under pytest's basetemp: every pytest run that starts on the machine (another worker's, another
    checkout's) resets that folder's parent to mode 0700, and the embedded server runs as its own system user,
    which must keep reaching its data folder.
    """
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def embedded_postgres(prefix: str) -> Iterator[tuple[EmbeddedPostgres, str]]:
    """An embedded PostgreSQL in a new folder outside basetemp, and its DSN; stopped and removed afterwards.

    A start whose initdb fails is tried once more in a new folder. At the start of one clean-clone run, one
    worker's initdb failed with "could not change permissions of directory" (EPERM on the data folder pgserver had
    just given to its user), which failed every test of that worker; 9 concurrent starts since did not repeat it.
    """
    for attempt in (1, 2):
        with outside_basetemp(prefix) as folder:
            server = EmbeddedPostgres(folder)
            try:
                dsn = server.start()
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
                _log.warning("the embedded PostgreSQL in %s did not start; trying a new folder", folder, exc_info=True)
                continue
            try:
                yield server, dsn
            finally:
                # A test may leave it stopped or half-restarted; whatever state it is in, the folder goes.
                with contextlib.suppress(Exception):
                    server.stop()
            return


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def ready(process: subprocess.Popen[bytes], url: str, log: Path, deadline_s: float = 90.0) -> None:
    """Wait until the ``msr serve`` process answers ``/readiness`` (its log in the failure when it died)."""
    deadline = time.monotonic() + deadline_s
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/readiness")).status_code == 200:
                    return
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            await asyncio.sleep(0.2)
