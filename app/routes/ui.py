"""The browser UI: ``/`` is the map page, ``/operator`` the operator page, ``/static/...`` their assets.

Two small unauthenticated endpoints serve the page itself: ``GET /ui/config`` (what the page needs before the
user signs in) and ``GET /ui/dev-token`` (the one-click sign-in of development mode, for loopback clients only).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.response import File
from litestar.static_files import create_static_files_router

from app.auth import mint_token
from app.demo import DEMO_ADMIN, DEMO_TENANT
from app.errors import not_found
from app.openapi_docs import Instant, answer, errors
from app.settings import Settings, is_loopback_host
from app.web import envelope, rfc3339, utc_now

DEV_TOKEN_TTL = timedelta(hours=12)
"""Lifetime of a token handed out by ``GET /ui/dev-token``."""


FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
"""Headers a proxy adds: a request carrying any came through one, so its loopback peer says nothing of who sent it."""


class UiConfig(msgspec.Struct):
    """What the page needs before signing in: the tile URL (null: the built-in map), dev mode, the frame period."""

    tile_url: str | None
    dev_mode: bool
    frame_interval_ms: Annotated[int, msgspec.Meta(gt=0)]


class UiConfigEnvelope(msgspec.Struct):
    """The UI's configuration."""

    data: UiConfig
    message: str
    sent_at: Instant


class DevToken(msgspec.Struct):
    """An admin token of the demo tenant, and until when it holds."""

    token: str
    user_id: str
    tenant_id: uuid.UUID
    admin: Literal[True]
    expires_at: Instant


class DevTokenEnvelope(msgspec.Struct):
    """The development token."""

    data: DevToken
    message: str
    sent_at: Instant


def comes_straight_from_this_machine(request: Request[Any, Any, Any]) -> bool:
    """Whether a request reached a loopback listen address from a loopback peer, through no proxy.

    A reverse proxy on the same host makes every visitor's peer 127.0.0.1, so the peer alone proves nothing:
    forwarding headers, or a listen address other than loopback (``MSR_HOST=0.0.0.0`` reached from the network),
    mean the request may come from anywhere.
    """
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False
    listen = request.scope.get("server")
    client = request.client
    return is_loopback_host(listen[0] if listen else None) and is_loopback_host(client.host if client else None)


def ui_router(settings: Settings) -> Router:
    """Routes serving the UI from ``settings.static_dir`` (``MSR_STATIC_DIR``) and its two helper endpoints."""
    static_dir = settings.static_dir
    # The bundles keep their names across builds: make browsers revalidate (a cheap 304) rather than guess.
    revalidate = CacheControlHeader(no_cache=True)

    @get("/", include_in_schema=False, media_type="text/html", cache_control=revalidate)
    async def index() -> File:
        return File(static_dir / "index.html", content_disposition_type="inline")

    @get("/operator", include_in_schema=False, media_type="text/html", cache_control=revalidate)
    async def operator() -> File:
        return File(static_dir / "operator.html", content_disposition_type="inline")

    @get(
        "/ui/config",
        tags=["ui"],
        summary="What the browser UI needs before signing in",
        responses={200: answer(UiConfigEnvelope, "the UI's configuration")},
    )
    async def ui_config() -> Response[dict[str, Any]]:
        """``{tile_url, dev_mode, frame_interval_ms}``; no authentication."""
        return envelope(
            {
                "tile_url": settings.tile_url,
                "dev_mode": settings.dev_mode,
                "frame_interval_ms": settings.frame_interval_ms,
            },
            "Get UI configuration successfully",
        )

    @get(
        "/ui/dev-token",
        tags=["ui"],
        summary="The development admin token (development mode, loopback)",
        responses={200: answer(DevTokenEnvelope, "a fresh token (not to be cached)"), **errors(404)},
    )
    async def ui_dev_token(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        """A fresh admin token of the demo tenant, in development mode, to a client on this machine.

        Only when the server signs with its generated development secret and the caller is on this machine,
        talking to a loopback address through no proxy; 404 otherwise, as if the endpoint did not exist.
        """
        if not settings.dev_mode or settings.jwt_secret is None or not comes_straight_from_this_machine(request):
            raise not_found("no such resource")
        ttl_s = int(DEV_TOKEN_TTL.total_seconds())
        token = mint_token(
            settings.jwt_secret, user_id=DEMO_ADMIN, tenant_id=DEMO_TENANT, admin=True, ttl_s=ttl_s, settings=settings
        )
        return envelope(
            {
                "token": token,
                "user_id": DEMO_ADMIN,
                "tenant_id": str(DEMO_TENANT),
                "admin": True,
                "expires_at": rfc3339((utc_now() + DEV_TOKEN_TTL).replace(microsecond=0)),
            },
            "Get development token successfully",
            headers={"Cache-Control": "no-store"},
        )

    assets = create_static_files_router(
        path="/static", directories=[static_dir], include_in_schema=False, cache_control=revalidate
    )
    return Router(path="/", route_handlers=[index, operator, ui_config, ui_dev_token, assets])
