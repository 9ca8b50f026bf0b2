"""MSR_DATABASE_READ_URL: replay reads go to a streaming replica, and never see less than what was committed when
they began (a replica still behind after MSR_DATABASE_READ_WAIT_MS is skipped for the primary).

A real primary and streaming replica of the machine's PostgreSQL (initdb + pg_basebackup) on their own ports and
folders; the test pauses the replica's replay to make it lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from prometheus_client import REGISTRY

from store.pool import Database, PoolConfig
from tests.deploy.support import free_port
from tests.live.support import TENANT, History, ingest, make_history, recent_start, rfc3339
from tests.support import bearer, make_token

_TOOLS = ("initdb", "pg_ctl", "createdb", "pg_basebackup", "postgres")


def _server_bindir() -> Path | None:
    """The folder of the machine's PostgreSQL server programs (Debian keeps them out of the PATH)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.insert(0, Path(initdb).resolve().parent)
    return next((folder for folder in candidates if all((folder / tool).exists() for tool in _TOOLS)), None)


_BINDIR = _server_bindir()
# PostgreSQL refuses to run as root: as root, run it as the postgres account of the machine's packages.
_USER = "postgres" if os.geteuid() == 0 else None


def _missing() -> str | None:
    if _BINDIR is None:
        return f"no PostgreSQL server programs ({', '.join(_TOOLS)}) to run a primary and a replica"
    if _USER is not None:
        try:
            pwd.getpwnam(_USER)
        except KeyError:
            return "running as root without a postgres account to run PostgreSQL as"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def _run(*command: str, cwd: Path) -> None:
    assert _BINDIR is not None
    result = subprocess.run(
        [str(_BINDIR / command[0]), *command[1:]], cwd=cwd, user=_USER, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{command[0]} failed:\n{result.stdout}\n{result.stderr}"


def _start(data: Path, port: int, base: Path) -> None:
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c fsync=off -c shared_buffers=32MB"
    _run("pg_ctl", "-D", str(data), "-l", str(data) + ".log", "-o", options, "-w", "-t", "60", "start", cwd=base)


@pytest.fixture(scope="module")
def primary_and_replica() -> Iterator[tuple[str, str]]:
    """DSNs of the ``msr`` database on a primary and on its streaming replica."""
    base = Path(tempfile.mkdtemp(prefix="msr-replication-"))
    if _USER is not None:
        shutil.chown(base, _USER)
    primary, replica = base / "primary", base / "replica"
    primary_port, replica_port = free_port(), free_port()
    started: list[Path] = []
    try:
        _run("initdb", "-D", str(primary), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", cwd=base)
        _start(primary, primary_port, base)
        started.append(primary)
        _run("createdb", "-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres", "msr", cwd=base)
        _run(
            "pg_basebackup", "-D", str(replica), "-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres",
            "-R", "-X", "stream", "-c", "fast", "--no-sync", cwd=base,
        )  # fmt: skip
        _start(replica, replica_port, base)
        started.append(replica)
        yield (
            f"postgresql://postgres@127.0.0.1:{primary_port}/msr",
            f"postgresql://postgres@127.0.0.1:{replica_port}/msr",
        )
    finally:
        for data in reversed(started):
            with contextlib.suppress(AssertionError):
                _run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop", cwd=base)
        shutil.rmtree(base, ignore_errors=True)


@contextlib.asynccontextmanager
async def replay_paused(replica_dsn: str):
    """Stop the replica applying WAL (it still receives it), as a replica that lags does."""
    conn = await asyncpg.connect(replica_dsn)
    try:
        await conn.execute("SELECT pg_wal_replay_pause()")
        yield
    finally:
        await conn.execute("SELECT pg_wal_replay_resume()")
        # Caught up again before the test goes on: on a busy machine replaying what piled up can take longer than a
        # read's wait for the replica (MSR_DATABASE_READ_WAIT_MS), which would send the next read to the primary.
        deadline = time.monotonic() + 30
        while not await conn.fetchval("SELECT pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()"):
            assert time.monotonic() < deadline, "the replica did not catch up after its replay resumed"
            await asyncio.sleep(0.02)
        await conn.close()


async def test_reads_go_to_the_replica_and_to_the_primary_while_the_replica_lags(primary_and_replica):
    primary_dsn, replica_dsn = primary_and_replica
    went: list[str] = []
    db = Database(PoolConfig(dsn=primary_dsn, read_dsn=replica_dsn, min_size=1, max_size=2, on_read=went.append))
    await db.open()
    try:
        async with db.connection() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS marks (n int)")
        async with db.read_connection() as conn:
            assert await conn.fetchval("SELECT pg_is_in_recovery()"), "read on the replica"
            assert await conn.fetchval("SELECT to_regclass('marks') IS NOT NULL"), "it waited for the table"

        async with replay_paused(replica_dsn):
            async with db.connection() as conn:
                await conn.execute("INSERT INTO marks VALUES (1)")
            async with db.read_connection() as conn:
                assert not await conn.fetchval("SELECT pg_is_in_recovery()"), "the lagging replica was skipped"
                assert await conn.fetchval("SELECT count(*) FROM marks WHERE n = 1") == 1

        async with db.connection() as conn:
            await conn.execute("INSERT INTO marks VALUES (2)")
        async with db.read_connection() as conn:
            assert await conn.fetchval("SELECT pg_is_in_recovery()"), "back on the replica once it replays"
            assert await conn.fetchval("SELECT count(*) FROM marks") == 2
        assert went == ["replica", "primary", "replica"]
    finally:
        await db.close()


def reads(target: str) -> float:
    return REGISTRY.get_sample_value("msr_database_reads_total", {"target": target}) or 0.0


async def events_seen(client, session_id: str, history: History) -> int:
    response = await client.get(
        "/replay/events",
        params={"session_id": session_id, "start": rfc3339(history.first), "end": rfc3339(history.last)},
        headers=bearer(make_token("viewer-1", TENANT)),
    )
    assert response.status_code == 200, response.text
    return len(response.json()["data"])


async def test_a_client_reads_what_it_was_told_was_stored_even_when_the_replica_lags(
    primary_and_replica, settings, start_server
):
    primary_dsn, replica_dsn = primary_and_replica
    on_replica = settings.replace(database_url=primary_dsn, database_read_url=replica_dsn, database_read_wait_ms=100)
    history = make_history(recent_start(), seconds=3)
    # /replay/events answers start < event_timestamp <= end: all but the first instant's creates.
    stored = len(history.between(history.first, history.last))
    async with start_server(on_replica) as server, server.client() as client:
        session = await client.post("/session", headers=bearer(make_token("viewer-1", TENANT)))
        assert session.status_code == 201, session.text
        session_id = session.json()["data"]["id"]
        replica_reads = reads("replica")
        assert await events_seen(client, session_id, history) == 0
        assert reads("replica") > replica_reads

        async with replay_paused(replica_dsn):
            # Stored and acknowledged, then read at once while the replica cannot have it: the read sees it all.
            await ingest(client, history)
            primary_reads = reads("primary")
            assert await events_seen(client, session_id, history) == stored
            assert reads("primary") > primary_reads

        # Reads go back to the replica once it has caught up. Each read waits 100 ms for the replica to have what
        # the primary had when it began, and the server's own writes keep moving that on: on a busy machine (a stress
        # run, six workers on two cores) the first read after the catch-up still went to the primary.
        replica_reads = reads("replica")
        deadline = time.monotonic() + 10
        while True:
            assert await events_seen(client, session_id, history) == stored
            if reads("replica") > replica_reads:
                break
            assert time.monotonic() < deadline, "reads did not go back to the replica"
            await asyncio.sleep(0.1)
