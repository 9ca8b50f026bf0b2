"""A client that ingests as a well-behaved source does through an outage: every batch is retried, unchanged (the
same ``event_id``s), until it is answered 200; a retryable 503 or a cut connection means "try again"."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx

from tests.live.support import rfc3339
from tests.support import bearer, make_token

BATCH = 50
RETRY_PAUSE_S = 0.1


@dataclass
class RetryingIngester:
    """Posts numbered batches of distinct events, each retried until stored; counts what the server answered."""

    client: httpx.AsyncClient
    tenant: uuid.UUID
    start: datetime
    give_up_s: float = 30.0
    batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    """Answers other than 200 while retrying: the envelope's code of a 503, or ``cut`` for a transport error."""

    @property
    def sent(self) -> int:
        return self.batches * BATCH

    def body(self, number: int) -> list[dict[str, Any]]:
        first = number * BATCH
        return [
            {
                "table_name": "public.meters",
                "entity_id": f"m{(first + i) % 97}",
                "op": "u",
                "entity_state": {"reading": first + i},
                "event_timestamp": rfc3339(self.start + timedelta(milliseconds=first + i)),
                "event_id": f"batch-{number}-{i}",
            }
            for i in range(BATCH)
        ]

    async def post(self, body: list[dict[str, Any]]) -> httpx.Response:
        """Post ``body`` until it is answered with anything but a retryable refusal; that answer."""
        headers = bearer(make_token("source", self.tenant, admin=True))
        deadline = time.monotonic() + self.give_up_s
        while True:
            try:
                answer = await self.client.post("/v1/ingest/events", json=body, headers=headers)
            except httpx.TransportError:
                self.refusals["cut"] += 1
            else:
                if answer.status_code != 503:
                    return answer
                error = answer.json()["error"]
                assert error["is_retryable"] is True, answer.text
                self.refusals[error["code"]] += 1
            assert time.monotonic() < deadline, f"a batch was refused for {self.give_up_s} s: {self.refusals}"
            await asyncio.sleep(RETRY_PAUSE_S)

    async def send(self, number: int) -> None:
        answer = await self.post(self.body(number))
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        self.accepted += data["accepted"]
        self.duplicates += data["duplicates"]
        self.batches = number + 1

    async def _run(self, done: asyncio.Event) -> None:
        number = 0
        while not done.is_set():
            await self.send(number)
            number += 1

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Send batch after batch during the block; after it, finish the batch under way (cancelled on failure)."""
        done = asyncio.Event()
        task = asyncio.create_task(self._run(done))
        try:
            yield
        except BaseException:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            raise
        done.set()
        await asyncio.wait_for(task, self.give_up_s)


async def stored(database_url: str, tenant: uuid.UUID) -> tuple[int, int]:
    """Rows of the tenant's events in PostgreSQL, and their distinct ``event_id``s."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS rows, count(DISTINCT event_id) AS ids FROM events WHERE tenant_id = $1", tenant
        )
    finally:
        await conn.close()
    return row["rows"], row["ids"]
