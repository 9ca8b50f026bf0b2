"""The ``msr`` command: serve, migrate, token."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType

from app.auth import load_public_key, mint_token
from app.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedUnavailableError
from app.logs import configure_logging
from app.settings import ConfigError, Settings

_log = logging.getLogger("msr.cli")

DEMO_TENANT = uuid.UUID("2878ac59-ad8b-4a94-bd97-2d9ef371fc06")
"""The tenant of the demo data and of the development admin token."""
DEMO_ADMIN = "f67cb8f5-0645-444d-a4bd-c61aaf1b2db0"
"""The user id of the development admin token."""
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


def _with_dev_key(settings: Settings) -> Settings:
    if settings.has_verification_key:
        return settings
    secret = dev_secret(settings.data_dir, create=True)
    assert secret is not None
    settings = settings.replace(jwt_secret=secret)
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

    if settings.jwt_public_key:
        # Fail on an unusable key before starting the embedded servers, not after.
        load_public_key(settings.jwt_public_key)
    # uvicorn re-raises SIGTERM after its graceful shutdown; turning it into SystemExit lets the embedded
    # servers below be stopped on the way out instead of the process dying first.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with resolved_services(settings) as resolved:
        ready = _with_dev_key(resolved)
        uvicorn.run(
            create_app(ready),
            host=ready.host,
            port=ready.port,
            ws="websockets-sansio",
            ws_per_message_deflate=False,
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="msr", description="MSR multi-session replay server")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the server (embedded PostgreSQL/Redis unless their URLs are set)")
    commands.add_parser("migrate", help="apply the database migrations and exit")
    token = commands.add_parser("token", help="mint a development token with MSR_JWT_SECRET or the dev secret")
    token.add_argument("--user", required=True, help="user id (the 'sub' claim)")
    token.add_argument("--tenant", required=True, help="tenant id (a UUID)")
    token.add_argument("--admin", action="store_true", help="give the admin role")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
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
