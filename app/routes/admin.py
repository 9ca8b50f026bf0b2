"""Admin settings of seed 000: ``GET/PUT /admin/settings``."""

from __future__ import annotations

import dataclasses
from typing import Any

from litestar import Request, Response, get, put

from app.domain.admin_settings import SettingsUpdate, parse_settings_update, settings_as_json
from app.services import PrincipalDep, ServicesDep
from app.web import envelope


@get("/admin/settings", tags=["admin"], summary="Get the session configuration")
async def get_settings(admin: PrincipalDep, services: ServicesDep) -> Response[dict[str, Any]]:
    """The eight runtime settings."""
    return envelope(settings_as_json(dataclasses.asdict(services.runtime.current)), "Get settings successfully")


@put(
    "/admin/settings",
    tags=["admin"],
    summary="Update the configuration",
    status_code=200,
    opt={"request_body": SettingsUpdate},
)
async def put_settings(
    admin: PrincipalDep, services: ServicesDep, request: Request[Any, Any, Any]
) -> Response[dict[str, Any]]:
    """Change some settings; the answer holds the values given. Every replica uses them within a second."""
    changes = parse_settings_update(await request.body())
    await services.runtime.update(changes, admin.user_id)
    return envelope(settings_as_json(changes), "Updated settings successfully")


ROUTES = [get_settings, put_settings]
