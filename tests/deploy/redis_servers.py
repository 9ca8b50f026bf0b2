"""Private Redis topologies from the machine's ``redis-server``: a three-master cluster and a Sentinel set (one
master watched by one sentinel), each in its own folder on free loopback ports, stopped and removed afterwards."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.deploy.support import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
SENTINEL_SERVICE = "msr-master"
_START_DEADLINE_S = 15.0


def missing() -> str | None:
    """Why these topologies cannot run here, or None."""
    for program in (REDIS_SERVER, REDIS_CLI):
        if not Path(program).exists():
            return f"no {Path(program).name} (make redis-server installs Debian's redis-server when allowed)"
    version = subprocess.run([REDIS_SERVER, "--version"], capture_output=True, text=True, check=False).stdout
    major = version.split("v=", 1)[1].split(".", 1)[0] if "v=" in version else "0"
    if int(major) < 7:
        return f"redis-server {major}.x has no sharded pub/sub (Redis 7 is needed)"
    return None


@contextlib.contextmanager
def _servers(folder: Path, configs: list[list[str]]) -> Iterator[list[int]]:
    """One ``redis-server`` per config (its arguments after the port), each in ``folder/<port>``; yields the ports."""
    processes: list[subprocess.Popen[bytes]] = []
    ports = [_cluster_port() if "--cluster-enabled" in config else free_port() for config in configs]
    try:
        for port, config in zip(ports, configs, strict=True):
            work = folder / str(port)
            work.mkdir(parents=True)
            arguments = [*config, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(work), "--save", ""]
            arguments += ["--appendonly", "no", "--logfile", str(work / "redis.log")]
            processes.append(subprocess.Popen([REDIS_SERVER, *arguments], cwd=work))
        for port, process in zip(ports, processes, strict=True):
            _wait_listening(port, process, folder / str(port) / "redis.log")
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _cluster_port() -> int:
    """A free port whose cluster bus port (10000 above it) is free too."""
    while True:
        port = free_port()
        if port + 10000 <= 65535:
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_DEADLINE_S
    while True:
        assert process.poll() is None, log.read_text(errors="replace") if log.exists() else "redis-server exited"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        assert time.monotonic() < deadline, f"redis-server on {port} did not start listening"
        time.sleep(0.02)


def _cli(port: int, *command: str) -> str:
    result = subprocess.run(
        [REDIS_CLI, "-h", "127.0.0.1", "-p", str(port), *command], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"redis-cli {' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@contextlib.contextmanager
def redis_cluster(folder: Path, masters: int = 3) -> Iterator[list[int]]:
    """A Redis Cluster of ``masters`` masters (no replicas) sharing the 16384 slots; yields their ports."""
    config = ["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"]
    with _servers(folder, [[*config, "--cluster-config-file", "nodes.conf"] for _ in range(masters)]) as ports:
        nodes = [f"127.0.0.1:{port}" for port in ports]
        _cli(ports[0], "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes")
        deadline = time.monotonic() + _START_DEADLINE_S
        # Every node must know the whole slot map before a client trusts any of them.
        while not all("cluster_state:ok" in _cli(port, "cluster", "info") for port in ports):
            assert time.monotonic() < deadline, "the cluster did not reach cluster_state:ok"
            time.sleep(0.05)
        yield ports


@contextlib.contextmanager
def redis_sentinel(folder: Path) -> Iterator[tuple[int, int]]:
    """A master and one sentinel watching it as :data:`SENTINEL_SERVICE`; yields (master port, sentinel port)."""
    with _servers(folder / "master", [[]]) as (master,):
        sentinel_folder = folder / "sentinel"
        sentinel_folder.mkdir(parents=True)
        # Sentinel rewrites its config file, so it must be a file of its own.
        config = sentinel_folder / "sentinel.conf"
        config.write_text(
            f"sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {master} 1\n"
            f"sentinel down-after-milliseconds {SENTINEL_SERVICE} 2000\n"
        )
        with _servers(sentinel_folder, [[str(config), "--sentinel"]]) as (sentinel,):
            yield master, sentinel
