"""The ``msr`` command: serve, migrate, token, demo, bench-data, capture."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import secrets
import signal
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from app import capture_cli
from app.auth import load_public_key, mint_token
from app.demo import DEMO_ADMIN, DEMO_TENANT
from app.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedUnavailableError
from app.logs import configure_logging
from app.settings import ConfigError, Settings, is_loopback_host

if TYPE_CHECKING:
    from store.datasets import LoadResult

_log = logging.getLogger("msr.cli")

BENCH_TENANT = uuid.UUID("b3e0c5a2-6d1f-4e8a-9c47-5f2a1d3e7b90")
"""The default tenant of ``msr bench-data``."""
_DEV_SECRET_FILE = "dev-jwt-secret"  # noqa: S105 - a file name, not a secret
_DEV_TOKEN_TTL_S = 7 * 24 * 3600


@contextmanager
def resolved_services(settings: Settings, *, redis: bool = True) -> Iterator[Settings]:
    """Settings whose database (and, when ``redis``, Redis) URL is set, starting embedded servers for unset ones."""
    with ExitStack() as stack:
        if settings.database_url is None:
            postgres = EmbeddedPostgres(settings.data_dir)
            settings = settings.replace(database_url=postgres.start())
            stack.callback(postgres.stop)
        else:
            _log.info("using PostgreSQL from MSR_DATABASE_URL")
        if redis and settings.redis_url is None:
            embedded_redis = EmbeddedRedis(settings.data_dir)
            settings = settings.replace(redis_url=embedded_redis.start())
            stack.callback(embedded_redis.stop)
        elif redis:
            _log.info("using Redis from MSR_REDIS_URL")
        yield settings


def dev_secret(data_dir: Path, *, create: bool) -> str | None:
    """The development HS256 secret kept in the data folder (created on first use when asked)."""
    path = data_dir / _DEV_SECRET_FILE
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    if not create:
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret, encoding="utf-8")
    return secret


def check_development_listen_address(settings: Settings) -> None:
    """Refuse development mode (no signing key) on a non-loopback ``MSR_HOST`` unless ``MSR_DEV_ALLOW_REMOTE``.

    Checked before anything starts, so a refused start leaves nothing behind.
    """
    if settings.has_verification_key or is_loopback_host(settings.host):
        return
    if not settings.dev_allow_remote:
        raise ConfigError(
            f"MSR_HOST={settings.host} is not a loopback address, and no signing key is configured "
            "(development mode, whose admin token anyone reaching the server could use): configure "
            "MSR_JWT_SECRET, MSR_JWT_PUBLIC_KEY or MSR_JWKS_URL, or listen on 127.0.0.1, or set "
            "MSR_DEV_ALLOW_REMOTE=true to accept the risk"
        )
    _log.warning(
        "development mode listens on %s (MSR_DEV_ALLOW_REMOTE=true): anyone who can reach it and obtains a "
        "token signed with the development secret is an admin",
        settings.host,
    )


def _with_dev_key(settings: Settings) -> Settings:
    if settings.has_verification_key:
        return settings
    secret = dev_secret(settings.data_dir, create=True)
    assert secret is not None
    settings = settings.replace(jwt_secret=secret, dev_mode=True)
    token = mint_token(
        secret,
        user_id=DEMO_ADMIN,
        tenant_id=DEMO_TENANT,
        admin=True,
        ttl_s=_DEV_TOKEN_TTL_S,
        settings=settings,
    )
    banner = "=" * 78
    print(
        f"{banner}\nDEVELOPMENT MODE: no MSR_JWT_SECRET, MSR_JWT_PUBLIC_KEY or MSR_JWKS_URL is configured.\n"
        f"Tokens are signed with a secret generated in {settings.data_dir / _DEV_SECRET_FILE}.\n"
        f"Admin token for tenant {DEMO_TENANT} (valid 7 days):\n\n{token}\n\n"
        f"Open http://{settings.host}:{settings.port}/ and paste it, or send 'Authorization: Bearer ...'.\n"
        f"{banner}",
        file=sys.stderr,
        flush=True,
    )
    return settings


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _serve(settings: Settings) -> int:
    import uvicorn  # noqa: PLC0415 - only the serve command needs it

    from app.asgi import create_app  # noqa: PLC0415 - keeps `msr token` light
    from app.serving import uvicorn_options  # noqa: PLC0415 - imports uvicorn

    if settings.jwt_public_key:
        # Fail on an unusable key before starting the embedded servers, not after.
        load_public_key(settings.jwt_public_key)
    check_development_listen_address(settings)
    # uvicorn re-raises SIGTERM after its graceful shutdown; turning it into SystemExit lets the embedded
    # servers below be stopped on the way out instead of the process dying first.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with resolved_services(settings) as resolved:
        if settings.database_url is None:
            # Embedded mode is the first-run experience: give a new user something to look at at once.
            assert resolved.database_url is not None
            _print_demo_load(asyncio.run(_load_demo(resolved.database_url)))
        ready = _with_dev_key(resolved)
        uvicorn.run(
            create_app(ready),
            host=ready.host,
            port=ready.port,
            **uvicorn_options(ready),
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
    return 0


def _migrate(settings: Settings) -> int:
    from store.migrate import migrate  # noqa: PLC0415

    with resolved_services(settings, redis=False) as resolved:
        assert resolved.database_url is not None
        applied = asyncio.run(migrate(resolved.database_url))
    print(f"applied migrations: {applied or 'none (up to date)'}")
    return 0


async def _load_demo(database_url: str) -> LoadResult | None:
    from app.demo import load_demo_if_empty  # noqa: PLC0415 - keeps `msr token` light

    return await load_demo_if_empty(database_url, DEMO_TENANT, datetime.now(UTC))


def _print_demo_load(loaded: LoadResult | None) -> None:
    if loaded is None:
        print("demo data not loaded: the database has events already", file=sys.stderr)
    else:
        print(
            f"loaded demo data for tenant {DEMO_TENANT}: {loaded.events:,} events from {loaded.start:%Y-%m-%d %H:%M} "
            f"to {loaded.end:%Y-%m-%d %H:%M} UTC, {loaded.checkpoints} checkpoints",
            file=sys.stderr,
            flush=True,
        )


def _demo(settings: Settings) -> int:
    with resolved_services(settings, redis=False) as resolved:
        assert resolved.database_url is not None
        _print_demo_load(asyncio.run(_load_demo(resolved.database_url)))
    return 0


def _bench_data(settings: Settings, args: argparse.Namespace) -> int:
    from app.demo import load_bench_data  # noqa: PLC0415
    from app.web import parse_rfc3339  # noqa: PLC0415
    from store.datasets import DATASETS  # noqa: PLC0415

    try:
        tenant = uuid.UUID(args.tenant)
    except ValueError:
        print("msr bench-data: --tenant must be a UUID", file=sys.stderr)
        return 2
    if args.end is None:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    else:
        parsed = parse_rfc3339(args.end)
        if parsed is None:
            print("msr bench-data: --end must be an RFC3339 instant with a zone", file=sys.stderr)
            return 2
        end = parsed
    spec = DATASETS[args.size]
    with resolved_services(settings, redis=False) as resolved:
        assert resolved.database_url is not None
        try:
            loaded = asyncio.run(load_bench_data(resolved.database_url, spec, tenant, end, args.seed))
        except ValueError as exc:
            print(f"msr bench-data: {exc}; nothing loaded", file=sys.stderr)
            return 1
    print(
        f"loaded data set {spec.name} for tenant {tenant}: {loaded.events:,} events of {spec.entities:,} entities "
        f"from {loaded.start.isoformat()} to {loaded.end.isoformat()}, {loaded.checkpoints} checkpoints"
    )
    return 0


def _token(settings: Settings, args: argparse.Namespace) -> int:
    secret = settings.jwt_secret or dev_secret(settings.data_dir, create=False)
    if secret is None:
        print(
            "msr token: no MSR_JWT_SECRET and no development secret yet (run 'msr serve' once)",
            file=sys.stderr,
        )
        return 2
    try:
        tenant = uuid.UUID(args.tenant)
    except ValueError:
        print("msr token: --tenant must be a UUID", file=sys.stderr)
        return 2
    if args.ttl <= 0:
        print("msr token: --ttl must be > 0 seconds", file=sys.stderr)
        return 2
    print(mint_token(secret, user_id=args.user, tenant_id=tenant, admin=args.admin, ttl_s=args.ttl, settings=settings))
    return 0


def _openapi(settings: Settings) -> int:
    """Print the OpenAPI document the server serves at ``/schema``; nothing is connected to."""
    from app.asgi import create_app  # noqa: PLC0415 - keeps the other commands light
    from app.openapi_docs import openapi_document  # noqa: PLC0415

    # create_app connects nothing until its lifespan starts: placeholder URLs are never used.
    unconnected = dataclasses.replace(
        settings,
        database_url=settings.database_url or "postgresql://unused",
        redis_url=settings.redis_url or "redis://unused",
    )
    print(json.dumps(openapi_document(create_app(unconnected)), indent=2, sort_keys=True))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="msr", description="MSR multi-session replay server")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the server (embedded PostgreSQL/Redis unless their URLs are set)")
    commands.add_parser("migrate", help="apply the database migrations and exit")
    commands.add_parser("openapi", help="print the OpenAPI document of /schema (JSON) without starting a server")
    token = commands.add_parser("token", help="mint a development token with MSR_JWT_SECRET or the dev secret")
    token.add_argument("--user", required=True, help="user id (the 'sub' claim)")
    token.add_argument("--tenant", required=True, help="tenant id (a UUID)")
    token.add_argument("--admin", action="store_true", help="give the admin role")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    commands.add_parser("demo", help="load the demo data (three days around Singapore) into an empty database")
    bench = commands.add_parser("bench-data", help="load a benchmark data set of BENCH.md (deterministic by seed)")
    bench.add_argument(
        "size", choices=["S", "M", "L", "P"], help="S: 100k events, M: 1M, L: 10M, P: 400k over 20 minutes"
    )
    bench.add_argument("--tenant", default=str(BENCH_TENANT), help=f"tenant id (default {BENCH_TENANT})")
    bench.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    bench.add_argument("--end", help="RFC3339 instant the data ends at (default: the current whole hour)")
    capture_cli.add_commands(commands, DEMO_TENANT)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``msr`` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        print(f"msr: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        if args.command == "serve":
            return _serve(settings)
        if args.command == "migrate":
            return _migrate(settings)
        if args.command == "openapi":
            return _openapi(settings)
        if args.command == "demo":
            return _demo(settings)
        if args.command == "bench-data":
            return _bench_data(settings, args)
        if args.command == "capture":
            return capture_cli.run(settings, args)
        return _token(settings, args)
    except ConfigError as exc:
        print(f"msr: configuration error: {exc}", file=sys.stderr)
        return 2
    except EmbeddedUnavailableError as exc:
        print(f"msr: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl+C in a terminal: uvicorn has shut down and the embedded servers are stopped by now.
        return 130


if __name__ == "__main__":
    sys.exit(main())
