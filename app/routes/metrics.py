"""``GET /metrics`` for Prometheus: on the API port behind ``MSR_METRICS_TOKEN``, or on ``MSR_METRICS_PORT``.

:func:`metrics_lifespan` also runs what no request counts by itself: probes of PostgreSQL's and Redis's latency
and the fleet's sessions by status, every :data:`PROBE_PERIOD_S`.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from prometheus_client import start_http_server

from app import metrics
from app.auth import bearer_token
from app.errors import not_found, unauthorized
from app.services import services_of
from app.settings import Settings
from store.sessions import SessionRepository

PROBE_PERIOD_S = 5.0
"""How often the latency probes and the sessions count run."""


@get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request[object, object, State]) -> Response[bytes]:
    """The replica's metrics in Prometheus' text format, for the bearer of ``MSR_METRICS_TOKEN``."""
    expected = services_of(request.app.state).settings.metrics_token
    if expected is None:
        raise not_found("metrics are not served on this port (see MSR_METRICS_TOKEN)")
    given = bearer_token(request.headers.get("authorization"))
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise unauthorized("metrics need the bearer token of MSR_METRICS_TOKEN")
    return Response(content=metrics.render(), media_type=metrics.CONTENT_TYPE)


async def _timed(probe: Callable[[], Awaitable[bool]]) -> float | None:
    """The probe's round trip; None when it failed (each ping has its own timeout)."""
    started = time.perf_counter()
    ok = await probe()
    return time.perf_counter() - started if ok else None


def metrics_lifespan(settings: Settings) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """The metrics' part of a replica's life: the probes, and the listener on ``MSR_METRICS_PORT`` if set.

    Runs inside the main lifespan (listed after it), whose background tasks it uses and which stops them.
    """

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        services = services_of(app.state)
        repository = SessionRepository(services.db)

        async def probe() -> None:
            # MSR_METRICS_PORT is served by prometheus_client's own thread, which reads the gauges as they are.
            metrics.heap_measured()
            metrics.dependency_probed("postgres", await _timed(services.db.ping))
            metrics.dependency_probed("redis", await _timed(services.redis.ping))
            metrics.sessions_counted(await repository.count_by_status())

        services.background.every("metrics-probe", PROBE_PERIOD_S, probe)
        if settings.metrics_port is None:
            yield
            return
        server, thread = start_http_server(settings.metrics_port, settings.metrics_host, metrics.registry())
        try:
            yield
        finally:
            # shutdown() waits for the serving thread's loop to notice; keep the event loop free meanwhile.
            await asyncio.to_thread(server.shutdown)
            server.server_close()
            thread.join()

    return lifespan


ROUTES = [metrics_endpoint]
