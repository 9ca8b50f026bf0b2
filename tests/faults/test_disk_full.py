"""The disk of PostgreSQL full during ingest: the batch that does not fit is a clear, retryable 503 and stores
nothing (a batch is all or nothing); once space returns, the same batch retried is stored, once.

The test's own PostgreSQL keeps the database in a tablespace on a small tmpfs (its WAL stays on the main disk, so
the server itself keeps running: a full WAL disk stops PostgreSQL altogether, which is the restart case of
test_outages.py). Mounting needs root; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from tests.faults.ingesting import stored
from tests.faults.servers import private_postgres
from tests.live.support import recent_start, rfc3339
from tests.support import bearer, make_token, with_database

TENANT = uuid.UUID(int=53100)
HEADROOM_MB = 2
"""Space left on the tablespace once the database is made: a few batches' worth."""
BATCH = 200


def _can_mount() -> str | None:
    if os.geteuid() != 0:
        return "mounting a small tmpfs for PostgreSQL's tablespace needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    return None


pytestmark = pytest.mark.skipif(_can_mount() is not None, reason=str(_can_mount()))


@contextlib.contextmanager
def small_tmpfs(owner: str) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="msr-full-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(folder)], check=True)
    try:
        shutil.chown(folder, owner)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.rmdir()


def resize(folder: Path, megabytes: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={megabytes}m", str(folder)], check=True)


def used_mb(folder: Path) -> int:
    usage = shutil.disk_usage(folder)
    return -(-usage.used // 2**20)


def batch(number: int) -> list[dict]:
    start = recent_start()
    return [
        {
            "table_name": "public.images",
            "entity_id": f"i{number}-{i}",
            "op": "c",
            # Incompressible, so that PostgreSQL cannot squeeze it.
            "entity_state": {"blob": os.urandom(1500).hex()},
            "event_timestamp": rfc3339(start + timedelta(milliseconds=number * BATCH + i)),
            "event_id": f"{number}-{i}",
        }
        for i in range(BATCH)
    ]


async def test_a_full_disk_is_a_clear_503_that_stores_nothing_and_ingest_resumes_when_space_returns(
    settings, start_server, figure
):
    with private_postgres() as (postgres, database_url), small_tmpfs(postgres._server.system_user) as tablespace:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(f"CREATE TABLESPACE small LOCATION '{tablespace}'")
            await conn.execute("CREATE DATABASE msr_small TABLESPACE small")
        finally:
            await conn.close()
        small_url = with_database(database_url, "msr_small")
        own = settings.replace(database_url=small_url, db_pool_max=3)
        async with start_server(own) as server, server.client() as client:
            size_mb = used_mb(tablespace) + HEADROOM_MB
            resize(tablespace, size_mb)
            headers = bearer(make_token("source", TENANT, admin=True))
            accepted, number = 0, 0
            while True:
                body = batch(number)
                answer = await client.post("/v1/ingest/events", json=body, headers=headers)
                if answer.status_code != 200:
                    break
                accepted += answer.json()["data"]["accepted"]
                number += 1
                assert number < 100, f"{size_mb} MB never filled up"
            assert answer.status_code == 503, answer.text
            error = answer.json()["error"]
            assert error["code"] == "SERVICE_UNAVAILABLE"
            assert error["is_retryable"] is True
            assert "disk" in error["message"], error["message"]
            assert await stored(small_url, TENANT) == (accepted, accepted), "nothing of the refused batch"

            again = await client.post("/v1/ingest/events", json=body, headers=headers)
            assert again.status_code == 503, "still full"
            resize(tablespace, size_mb + 64)
            retried = await client.post("/v1/ingest/events", json=body, headers=headers)
            assert retried.status_code == 200, retried.text
            assert retried.json()["data"] == {"accepted": BATCH, "duplicates": 0}
            assert await stored(small_url, TENANT) == (accepted + BATCH, accepted + BATCH)
    figure(
        f"disk full: tablespace of {size_mb} MB filled after {number} batches ({accepted} events); the next batch "
        f"a 503 ({error['message']!r}), 0 of its {BATCH} events stored; stored whole on retry once space returned"
    )
