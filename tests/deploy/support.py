"""A fleet on this machine: ``msr serve`` replicas as processes, and Debian's nginx in front of them with the
locations of deploy/nginx/msr-proxy.conf."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.settings import Settings
from tests.support import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_DEADLINE_S = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Replica:
    """One ``msr serve`` process."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    async def ready(self) -> None:
        """Wait until /readiness answers 200 (failing with the replica's log if it dies or takes too long)."""
        deadline = time.monotonic() + START_DEADLINE_S
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            while True:
                assert self.process.poll() is None, self.log.read_text(errors="replace")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/readiness")).status_code == 200:
                        return
                assert time.monotonic() < deadline, self.log.read_text(errors="replace")
                await asyncio.sleep(0.2)


class Fleet:
    """``msr serve`` replicas of one deployment (the settings' database, Redis and prefix), started and stopped at
    will; whatever still runs is stopped by :meth:`close`."""

    def __init__(self, settings: Settings, folder: Path, **env: str) -> None:
        assert settings.database_url is not None
        assert settings.redis_url is not None
        self._folder = folder
        self._env = {key: value for key, value in os.environ.items() if not key.startswith("MSR_")} | {
            "MSR_DATABASE_URL": settings.database_url,
            "MSR_REDIS_URL": settings.redis_url,
            "MSR_REDIS_PREFIX": settings.redis_prefix,
            "MSR_JWT_SECRET": TEST_SECRET,
            **env,
        }
        self._started: list[Replica] = []

    def start(self, name: str, port: int | None = None) -> Replica:
        """Start a replica (on ``port``, or a free one); its output goes to ``<folder>/<name>.log``."""
        port = port or free_port()
        log = self._folder / f"{name}.log"
        env = self._env | {"MSR_PORT": str(port), "MSR_DATA_DIR": str(self._folder / name)}
        with log.open("ab") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve"], env=env, stdout=sink, stderr=subprocess.STDOUT
            )
        replica = Replica(process, f"http://127.0.0.1:{port}", log)
        self._started.append(replica)
        return replica

    def close(self) -> None:
        for replica in self._started:
            if replica.process.poll() is None:
                replica.process.terminate()
            try:
                replica.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait(timeout=10)


@contextlib.contextmanager
def replicas(settings: Settings, folder: Path, count: int, **env: str) -> Iterator[list[Replica]]:
    """``count`` replicas of one deployment, plus ``env``; all stopped afterwards."""
    fleet = Fleet(settings, folder, **env)
    try:
        yield [fleet.start(f"replica-{n}") for n in range(count)]
    finally:
        fleet.close()


@contextlib.contextmanager
def nginx(upstreams: Sequence[str], folder: Path) -> Iterator[str]:
    """nginx on a free loopback port in front of ``upstreams`` (``http://host:port``); yields its URL."""
    port = free_port()
    # As deploy/nginx/nginx.conf: a failed replica is retried after 2 s, so that a restarted one is used again soon,
    # and idle upstream connections are dropped before the replica's own 5 s keep-alive ends.
    servers = "".join(
        f"        server {url.removeprefix('http://')} max_fails=1 fail_timeout=2s;\n" for url in upstreams
    )
    # As root, nginx's workers would run as nobody, who cannot read the test's private folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    config = folder / "nginx.conf"
    config.write_text(
        f"""{user}worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {folder}/client-body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        "" close;
    }}
    upstream msr {{
        least_conn;
{servers}        keepalive 8;
        keepalive_timeout 4s;
    }}
    server {{
        listen 127.0.0.1:{port};
        include {ROOT}/deploy/nginx/msr-proxy.conf;
    }}
}}
"""
    )
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(folder), "-c", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        [NGINX, "-p", str(folder), "-c", str(config), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, process, folder / "nginx-error.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while True:
        assert process.poll() is None, log.read_text(errors="replace") if log.exists() else "nginx exited"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        assert time.monotonic() < deadline, "nginx did not start listening"
        time.sleep(0.05)
