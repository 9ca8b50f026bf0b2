"""Shared benchmark plumbing: servers to measure, load loops, percentiles, result files."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from app.auth import mint_token
from app.embedded import EmbeddedPostgres, EmbeddedRedis
from app.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class Backends:
    """PostgreSQL and Redis for a benchmark: MSR_BENCH_DATABASE_URL / MSR_BENCH_REDIS_URL, else embedded."""

    database_url: str
    redis_url: str
    _stops: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for stop in reversed(self._stops):
            stop()


@contextlib.contextmanager
def backends() -> Iterator[Backends]:
    stops: list[Callable[[], None]] = []
    database_url = os.environ.get("MSR_BENCH_DATABASE_URL")
    redis_url = os.environ.get("MSR_BENCH_REDIS_URL")
    scratch = Path(tempfile.mkdtemp(prefix="msr-bench-"))
    if not database_url:
        postgres = EmbeddedPostgres(scratch)
        database_url = postgres.start()
        stops.append(postgres.stop)
    if not redis_url:
        redis = EmbeddedRedis(scratch)
        redis_url = redis.start()
        stops.append(redis.stop)
    result = Backends(database_url, redis_url, stops)
    try:
        yield result
    finally:
        result.close()
        shutil.rmtree(scratch, ignore_errors=True)


async def fresh_database(base_url: str) -> str:
    """A new empty database on the server of ``base_url``; its URL."""
    name = f"msr_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(base_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@contextlib.contextmanager
def server_process(env: dict[str, str], command: list[str] | None = None) -> Iterator[str]:
    """Run ``msr serve`` (or another command) in its own process on a free port; yield its base URL."""
    port = free_port()
    full_env = {**os.environ, **env, "MSR_PORT": str(port), "MSR_LOG_LEVEL": "WARNING"}
    args = command or [sys.executable, "-m", "app.cli", "serve"]
    process = subprocess.Popen([*args], env={**full_env, "BENCH_PORT": str(port)})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("benchmark server did not start")
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def bench_token(user: str, tenant: uuid.UUID, *, admin: bool = False, ttl_s: int = 3600) -> str:
    """A token for the benchmark servers (signed with :data:`SECRET`), minted as ``msr token`` mints one."""
    settings = Settings(jwt_secret=SECRET)
    return mint_token(SECRET, user_id=user, tenant_id=tenant, admin=admin, ttl_s=ttl_s, settings=settings)


def write_result(name: str, figures: dict[str, Any], table: list[tuple[str, str, str]]) -> None:
    """Write bench/results/<name>.json and print a Markdown table (figure, value, goal)."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2, sort_keys=True))
    print(f"\n### {name}\n\n| figure | value | goal |\n|---|---|---|")
    for row in table:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
