"""The ``msr`` command as an operator runs it: ``msr serve`` with nothing configured starts embedded PostgreSQL
and Redis, serves, prints a working development token, stops everything on SIGTERM, and reuses its data on the
next start; a malformed environment is a clear start-up error; ``msr token`` mints tokens the server accepts."""

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from store.migrate import available_migrations
from tests.support import bearer, outside_basetemp, with_database

START_DEADLINE_S = 90.0
STOP_DEADLINE_S = 30.0
DEV_TOKEN = re.compile(r"\n\n(eyJ[\w-]+\.[\w-]+\.[\w-]+)\n")


def clean_env(**variables: str) -> dict[str, str]:
    """The test's environment without any MSR_* configuration, plus the given variables."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("MSR_")}
    env.update(variables)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def msr(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", *args]


def process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def stop_leftovers(data_dir: Path) -> None:
    """Stop embedded servers a failed test left running (only those of this test's data folder)."""
    redis_pid = data_dir / "redis" / "redis.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(redis_pid.read_text())
        if b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGKILL)
    if (data_dir / "postgres" / "postmaster.pid").exists():
        from pgserver._commands import pg_ctl  # noqa: PLC0415 - only needed after a failure

        user = "pgserver" if os.geteuid() == 0 else None
        with contextlib.suppress(subprocess.CalledProcessError):
            pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=data_dir / "postgres", user=user, timeout=30)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with outside_basetemp("msr-cli-") as parent:
        folder = parent / "msr-data"
        yield folder
        stop_leftovers(folder)


@contextlib.contextmanager
def serving(data_dir: Path, log: Path) -> Iterator[Served]:
    port = free_port()
    env = clean_env(MSR_DATA_DIR=str(data_dir), MSR_PORT=str(port))
    with log.open("wb") as sink:
        process = subprocess.Popen(msr("serve"), env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield Served(process, f"http://127.0.0.1:{port}", log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_DEADLINE_S)


async def wait_ready(served: Served) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    async with httpx.AsyncClient(base_url=served.url, timeout=5) as client:
        while True:
            assert served.process.poll() is None, f"msr serve exited:\n{served.output()}"
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/readiness")).status_code == 200:
                    return
            assert time.monotonic() < deadline, f"msr serve never became ready:\n{served.output()}"
            await asyncio.sleep(0.2)


async def terminate(served: Served) -> int:
    served.process.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(served.process.wait, STOP_DEADLINE_S)


async def test_serve_with_nothing_configured_runs_embedded_and_reuses_its_data(data_dir, tmp_path):
    with serving(data_dir, tmp_path / "first.log") as first:
        await wait_ready(first)
        found = DEV_TOKEN.search(first.output())
        assert found, f"no development token printed:\n{first.output()}"
        assert "DEVELOPMENT MODE" in first.output()
        dev_token = found.group(1)
        minted = subprocess.run(
            msr("token", "--user", "ops-1", "--tenant", str(uuid.uuid4()), "--admin"),
            env=clean_env(MSR_DATA_DIR=str(data_dir)),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        async with httpx.AsyncClient(base_url=first.url, timeout=10) as client:
            changed = await client.put("/admin/settings", json={"max_active_sessions": 7}, headers=bearer(dev_token))
            assert changed.status_code == 200, changed.text
            by_minted = await client.get("/admin/settings", headers=bearer(minted))
            assert by_minted.status_code == 200, by_minted.text
            assert by_minted.json()["data"]["max_active_sessions"] == 7
        redis_pid = int((data_dir / "redis" / "redis.pid").read_text())
        assert await terminate(first) == 0, first.output()
    assert not (data_dir / "postgres" / "postmaster.pid").exists(), "embedded PostgreSQL still running"
    assert not process_alive(redis_pid), "embedded Redis still running"

    with serving(data_dir, tmp_path / "second.log") as second:
        await wait_ready(second)
        async with httpx.AsyncClient(base_url=second.url, timeout=10) as client:
            # The same development secret signs again, and the setting survived the restart.
            response = await client.get("/admin/settings", headers=bearer(dev_token))
        assert response.status_code == 200, response.text
        assert response.json()["data"]["max_active_sessions"] == 7
        assert await terminate(second) == 0, second.output()
    assert not (data_dir / "postgres" / "postmaster.pid").exists()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MSR_PORT", "abc"), ("MSR_DATABASE_URL", "mysql://db/msr"), ("MSR_JWT_PUBLIC_KEY", "no-such-file.pem")],
)
def test_a_malformed_environment_exits_non_zero_naming_the_variable(data_dir, variable, value):
    result = subprocess.run(
        msr("serve"),
        env=clean_env(MSR_DATA_DIR=str(data_dir), **{variable: value}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert variable in result.stderr
    assert "Traceback" not in result.stderr
    assert not (data_dir / "postgres").exists(), "nothing may start with a malformed environment"


def test_development_mode_on_a_network_address_is_refused_before_anything_starts(data_dir):
    result = subprocess.run(
        msr("serve"),
        env=clean_env(MSR_DATA_DIR=str(data_dir), MSR_HOST="0.0.0.0"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "MSR_HOST" in result.stderr
    assert "MSR_DEV_ALLOW_REMOTE" in result.stderr
    assert "Traceback" not in result.stderr
    assert not data_dir.exists() or not any(data_dir.iterdir()), "a refused start leaves nothing behind"


def test_token_without_any_secret_explains_what_to_do(data_dir):
    result = subprocess.run(
        msr("token", "--user", "u", "--tenant", str(uuid.uuid4())),
        env=clean_env(MSR_DATA_DIR=str(data_dir)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "msr serve" in result.stderr


async def test_migrate_applies_pending_migrations_once_and_starts_no_redis(data_dir, pg_base_url):
    name = f"msr_cli_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(pg_base_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    env = clean_env(MSR_DATA_DIR=str(data_dir), MSR_DATABASE_URL=with_database(pg_base_url, name))
    try:
        runs = [
            await asyncio.to_thread(
                subprocess.run, msr("migrate"), env=env, capture_output=True, text=True, timeout=60, check=True
            )
            for _ in range(2)
        ]
    finally:
        conn = await asyncpg.connect(pg_base_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
    every = [migration.version for migration in available_migrations()]
    assert f"applied migrations: {every}" in runs[0].stdout
    assert "none (up to date)" in runs[1].stdout
    assert not (data_dir / "redis").exists()
