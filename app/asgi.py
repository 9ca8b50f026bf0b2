"""The composition root: ``create_app(settings)`` wires routes, errors, auth and every part's lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import timedelta

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from app.auth import Authenticator
from app.background import BackgroundTasks
from app.coordination.admission import AdmissionControl
from app.coordination.redis import RedisConnection
from app.domain.admin_settings import RuntimeSettings
from app.domain.capture import CaptureService
from app.domain.jobs_runner import STEP_PERIOD_S, Maintenance
from app.domain.sessions import SessionLiveness, SessionService
from app.errors import EXCEPTION_HANDLERS
from app.live.memory import freeze_startup, thaw
from app.live.presence import PUBLISH_EVERY_S
from app.metrics import count_http_response, database_read
from app.openapi_docs import CompleteJsonRenderPlugin
from app.routes import API_ROUTES
from app.routes.metrics import metrics_lifespan
from app.routes.ui import ui_router
from app.services import Services, provide_admin, provide_principal, provide_services
from app.settings import ConfigError, Settings
from app.web import add_correlation_header, bind_correlation_id, complete_allow_header, utc_now
from store.capture import CaptureRepository
from store.migrate import migrate
from store.partitions import maintain_partitions, prepare_event_storage
from store.pool import Database, PoolConfig
from store.sessions import SessionRepository
from store.settings import SettingsRepository
from store.tenant_config import TenantConfigRepository

_log = logging.getLogger("msr.app")


async def _maintain_partitions(services: Services) -> None:
    await maintain_partitions(services.db, utc_now(), days_back=services.runtime.current.max_playback_range)


def _start_loops(services: Services, liveness: SessionLiveness) -> None:
    """The replica's periodic work; every loop is cancelled and awaited at shutdown."""
    background, settings, runtime = services.background, services.settings, services.runtime

    async def take_due_snapshots() -> None:
        # Safe on every replica at once: the store serialises each tenant's checkpoints in PostgreSQL.
        current = runtime.current
        await services.snapshots.take_due_snapshots(
            utc_now(), horizon=timedelta(days=current.max_playback_range), work_mem_mb=current.query_work_mem_mb
        )

    idle_timeout = settings.session_idle_timeout_s
    background.every("settings-refresh", settings.settings_poll_s, runtime.refresh)
    background.every("liveness-flush", min(2.0, idle_timeout / 5), liveness.flush)
    background.every("idle-expiry", min(5.0, idle_timeout / 5), services.sessions.expire_idle)
    background.every("admission-reconcile", 10.0, services.sessions.reconcile_admission)
    background.every("partitions", 3600.0, lambda: _maintain_partitions(services))
    background.every("snapshots", 60.0, take_due_snapshots)
    # Often enough that an attached viewer keeps its session alive whatever the idle timeout.
    background.every("playback-upkeep", min(1.0, idle_timeout / 4), services.playback.upkeep)
    # Lease renewal has its own loop, so that no other playback work (a take-over's catch-up) can delay it.
    background.every("playback-leases", settings.playback_lease_s / 3, services.playback.renew_leases)
    background.every("playback-take-over", settings.playback_lease_s / 3, services.playback.take_over_orphans)
    assert settings.database_url is not None
    capture = CaptureService(
        CaptureRepository(services.db),
        TenantConfigRepository(services.db),
        services.events,
        settings.database_url,
        batch=settings.capture_batch,
        poll_s=settings.capture_poll_s,
    )
    background.every("capture", settings.capture_poll_s, capture.run)
    maintenance = Maintenance(
        services.db, services.redis, runtime, services.jobs, job_keep=timedelta(days=settings.job_keep_days)
    )
    background.every("retention", STEP_PERIOD_S, maintenance.retention_step)
    background.every("rollup-refresh", STEP_PERIOD_S, maintenance.rollup_step)
    # The runner's step waits for work itself (a wake-up or its idle poll).
    background.every("exports", 0.0, services.export_runner.step)
    background.every("erasures", settings.job_lease_s / 3, services.erasures.step)
    background.every("presence", PUBLISH_EVERY_S, services.presence.record)


_SHUTDOWN_STEP_S = 10.0


async def _bounded(name: str, step: Awaitable[None]) -> None:
    """Run one shutdown step for at most _SHUTDOWN_STEP_S.

    With Redis gone (say, the embedded one stopped by the same Ctrl-C), a step that keeps retrying must not keep
    the process from exiting.
    """
    try:
        async with asyncio.timeout(_SHUTDOWN_STEP_S):
            await step
    except TimeoutError:
        _log.warning("shutdown: %s did not stop within %.0f s; going on", name, _SHUTDOWN_STEP_S)


def create_app(settings: Settings) -> Litestar:
    """Build the application. Database and Redis URLs must be resolved first (see ``app.embedded``)."""
    if settings.database_url is None or settings.redis_url is None:
        raise ConfigError("MSR_DATABASE_URL and MSR_REDIS_URL must be resolved before create_app")
    database_url, redis_url = settings.database_url, settings.redis_url
    authenticator = Authenticator(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await migrate(database_url)
        db = Database(
            PoolConfig(
                dsn=database_url,
                read_dsn=settings.database_read_url,
                read_wait_ms=settings.database_read_wait_ms,
                on_read=database_read,
                min_size=settings.db_pool_min,
                max_size=settings.db_pool_max,
                command_timeout_s=settings.db_command_timeout_s,
                statement_timeout_ms=settings.db_statement_timeout_ms,
            )
        )
        await db.open()
        redis = RedisConnection(redis_url, settings.redis_prefix)
        background = BackgroundTasks()
        services: Services | None = None
        try:
            runtime = RuntimeSettings(SettingsRepository(db))
            await runtime.load()
            session_repository = SessionRepository(db)
            liveness = SessionLiveness(session_repository)
            sessions = SessionService(
                session_repository,
                AdmissionControl(redis, session_repository),
                liveness,
                settings.session_idle_timeout_s,
            )
            await sessions.sync_admission()
            await prepare_event_storage(db)
            services = Services(settings, db, redis, runtime, authenticator, background, sessions)
            await _maintain_partitions(services)
            app.state.services = services
            await services.playback.start()
            _start_loops(services, liveness)
            freeze_startup()
            _log.info("replica ready")
            yield
        finally:
            if services is not None:
                await _bounded("erasures", services.erasures.close())
                await _bounded("playback", services.playback.close())
                await _bounded("presence", services.presence.forget())
                await _bounded("session creates", services.sessions.close())
            await _bounded("background tasks", background.stop())
            await _bounded("redis", redis.close())
            await db.close()
            thaw()

    cors = CORSConfig(allow_origins=list(settings.allowed_origins)) if settings.allowed_origins else None
    return Litestar(
        route_handlers=[*API_ROUTES, ui_router(settings)],
        lifespan=[lifespan, metrics_lifespan(settings)],
        dependencies={
            "services": Provide(provide_services),
            "principal": Provide(provide_principal),
            "admin": Provide(provide_admin),
        },
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        before_request=bind_correlation_id,
        before_send=[add_correlation_header, complete_allow_header, count_http_response],
        cors_config=cors,
        request_max_body_size=settings.max_body_bytes,
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="MSR replay server",
            version="1.0.0",
            path="/schema",
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
            ),
            security=[{"bearer": []}],
            # The document itself at /schema (and /schema/openapi.json): the HTML viewers load from a CDN. Each
            # operation's security, error answers and parameter types are finished in app.openapi_docs.
            render_plugins=[CompleteJsonRenderPlugin(path=["/", "/openapi.json"])],
        ),
    )
