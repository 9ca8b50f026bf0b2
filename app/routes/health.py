"""Liveness and readiness: 200, or 503 when PostgreSQL or Redis cannot be reached."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import msgspec
from litestar import Response, get

from app.errors import service_unavailable
from app.openapi_docs import Instant, answer
from app.services import ServicesDep
from app.web import envelope


class Checks(msgspec.Struct):
    """Each dependency's check: both ``ok`` in a 200 (a 503 names the ``unreachable`` one in its details)."""

    postgres: Literal["ok"]
    redis: Literal["ok"]


class HealthModel(msgspec.Struct):
    """The replica and its dependencies are well."""

    status: Literal["ok"]
    checks: Checks


class HealthEnvelope(msgspec.Struct):
    """A passed check."""

    data: HealthModel
    message: str
    sent_at: Instant


async def _check(services: ServicesDep, message: str) -> Response[dict[str, Any]]:
    postgres_ok, redis_ok = await asyncio.gather(services.db.ping(), services.redis.ping())
    checks = {
        "postgres": "ok" if postgres_ok else "unreachable",
        "redis": "ok" if redis_ok else "unreachable",
    }
    if not (postgres_ok and redis_ok):
        raise service_unavailable("a dependency is unreachable", {"checks": checks})
    return envelope({"status": "ok", "checks": checks}, message)


@get(
    "/health",
    include_in_schema=True,
    tags=["health"],
    summary="Liveness check",
    responses={200: answer(HealthEnvelope, "alive: PostgreSQL and Redis answer")},
)
async def health(services: ServicesDep) -> Response[dict[str, Any]]:
    """The process is alive and reaches PostgreSQL and Redis."""
    return await _check(services, "Service is alive")


@get(
    "/readiness",
    tags=["health"],
    summary="Readiness check",
    responses={200: answer(HealthEnvelope, "ready: PostgreSQL and Redis answer")},
)
async def readiness(services: ServicesDep) -> Response[dict[str, Any]]:
    """The replica can serve requests: PostgreSQL and Redis answer."""
    return await _check(services, "Service is ready")


ROUTES = [health, readiness]
