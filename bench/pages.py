"""Helpers of the browser tests: data loading, a cuttable TCP proxy, and reading the page's state."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from playwright.async_api import Page

from store.datasets import DatasetSpec, LoadResult, load_dataset
from store.pool import Database, PoolConfig

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TENANT = uuid.UUID("0c4f2d55-8a8e-4a7b-9d61-3f0e9b1c2a77")
STATIC_BUILD = Path(__file__).resolve().parents[1] / "static" / "build"
RESULTS = Path(__file__).resolve().parents[1] / "test-results" / "e2e"
DEADLINE_S = 20.0

T = TypeVar("T")


async def load_data(database_url: str, spec: DatasetSpec, tenant: uuid.UUID = TENANT) -> LoadResult:
    """Load a generated data set (vehicles, tasks and zones around Singapore) ending a minute ago."""
    db = Database(PoolConfig(dsn=database_url, min_size=1, max_size=2, command_timeout_s=300))
    await db.open()
    try:
        end = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
        return await load_dataset(db, spec, tenant, end, seed=3)
    finally:
        await db.close()


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], what: str, timeout: float = DEADLINE_S
) -> T:
    """Poll ``probe`` until ``accept`` holds, or fail saying ``what`` did not happen and the last value seen."""
    deadline = time.monotonic() + timeout
    value = await probe()
    while not accept(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s (last value: {value!r})")
        await asyncio.sleep(0.1)
        value = await probe()
    return value


async def msr(page: Page, name: str, *args: Any) -> Any:
    """Call one of the page's diagnostics (``window.__msr``)."""
    return await page.evaluate(f"(args) => window.__msr.{name}(...args)", list(args))


async def entity_count(page: Page) -> int:
    return int(await page.get_by_test_id("entity-count").inner_text())


async def status(page: Page) -> str:
    return await page.get_by_test_id("status").get_attribute("data-state") or ""


async def sign_in(page: Page, token: str) -> None:
    await page.get_by_test_id("token-input").fill(token)
    await page.get_by_test_id("sign-in").click()
    await page.get_by_test_id("who").wait_for(state="visible")


async def create_session(page: Page) -> str:
    """Click "New session" and wait for the first state on the map; answers the session id."""
    await page.get_by_test_id("session-create").click()
    await eventually(lambda: status(page), lambda s: s == "paused", "the new session to attach, paused")
    session = await msr(page, "session")
    return str(session["id"])


class CuttableProxy:
    """A TCP proxy on loopback between the browser and the server: ``cut()`` drops every open connection, as a
    network failure would, while new connections keep working."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            writer.close()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        except OSError:
            client_writer.close()
            return
        self._writers.update((client_writer, server_writer))
        try:
            await asyncio.gather(self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer))
        finally:
            self._writers.difference_update((client_writer, server_writer))

    def cut(self) -> int:
        """Abort every open connection; answers how many were cut."""
        writers = list(self._writers)
        for writer in writers:
            writer.transport.abort()
        self._writers.clear()
        return len(writers)

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
