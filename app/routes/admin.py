"""Admin settings of seed 000: ``GET/PUT /admin/settings``."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, put

from app.domain.admin_settings import SettingsUpdate, parse_settings_update, settings_as_json
from app.openapi_docs import Instant, answer
from app.services import PrincipalDep, ServicesDep
from app.web import envelope

Positive = Annotated[int, msgspec.Meta(gt=0)]
Cron = Annotated[str, msgspec.Meta(description="a 5-field cron expression")]


class SettingsModel(msgspec.Struct):
    """The eight runtime settings of seed 000 (``cagg_refresh_interval_hours`` may be a fraction of an hour)."""

    max_active_sessions: Positive
    max_playback_range: Positive
    data_retention_cron_expression: Cron
    earliest_valid_timestamp: Instant
    query_work_mem_mb: Positive
    columnstore_compression_age_days: Positive
    cagg_refresh_interval_hours: Annotated[float, msgspec.Meta(gt=0)]
    cagg_refresh_lag_days: Positive


class SettingsEnvelope(msgspec.Struct):
    """Every setting."""

    data: SettingsModel
    message: str
    sent_at: Instant


class ChangedSettings(msgspec.Struct):
    """The settings a ``PUT`` gave (the others are left out), as stored."""

    max_active_sessions: Positive | msgspec.UnsetType = msgspec.UNSET
    max_playback_range: Positive | msgspec.UnsetType = msgspec.UNSET
    data_retention_cron_expression: Cron | msgspec.UnsetType = msgspec.UNSET
    earliest_valid_timestamp: Instant | msgspec.UnsetType = msgspec.UNSET
    query_work_mem_mb: Positive | msgspec.UnsetType = msgspec.UNSET
    columnstore_compression_age_days: Positive | msgspec.UnsetType = msgspec.UNSET
    cagg_refresh_interval_hours: Annotated[float, msgspec.Meta(gt=0)] | msgspec.UnsetType = msgspec.UNSET
    cagg_refresh_lag_days: Positive | msgspec.UnsetType = msgspec.UNSET


class ChangedSettingsEnvelope(msgspec.Struct):
    """The settings changed."""

    data: ChangedSettings
    message: str
    sent_at: Instant


@get(
    "/admin/settings",
    tags=["admin"],
    summary="Get the session configuration",
    responses={200: answer(SettingsEnvelope, "the settings in force")},
)
async def get_settings(admin: PrincipalDep, services: ServicesDep) -> Response[dict[str, Any]]:
    """The eight runtime settings."""
    return envelope(settings_as_json(dataclasses.asdict(services.runtime.current)), "Get settings successfully")


@put(
    "/admin/settings",
    tags=["admin"],
    summary="Update the configuration",
    status_code=200,
    responses={200: answer(ChangedSettingsEnvelope, "the values given, as stored")},
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
