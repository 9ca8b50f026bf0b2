"""Tenant configuration of seed 001: the snapshot schedule and the tables snapshots cover.

These change how the tenant's data is stored, so they need the admin role. The tenant is the caller's; a
``tenant_id`` in the body naming another tenant needs the global admin role (as for sessions).
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response, get, put

from app.auth import Principal
from app.domain.admin_settings import is_valid_cron
from app.domain.ingest import is_qualified_table_name
from app.errors import forbidden, validation_error
from app.openapi_docs import Instant, answer
from app.services import PrincipalDep, ServicesDep
from app.web import envelope, rfc3339
from store.tenant_config import DEFAULT_SNAPSHOT_INTERVAL, TenantConfig

_BodyT = TypeVar("_BodyT")

MAX_LIST_TABLES = 1000
"""Most tables one tenant's snapshots may list."""


class SnapshotIntervalBody(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``PUT /v1/configuration/snapshot-interval``."""

    snapshot_interval: str
    tenant_id: uuid.UUID | None = None


class SnapshotListTablesBody(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``PUT /v1/configuration/snapshot-list-tables``: ``schema.table`` names separated by commas."""

    list_tables: str
    tenant_id: uuid.UUID | None = None


class ConfigurationModel(msgspec.Struct):
    """A tenant's snapshot configuration: the cron schedule and the tables (comma separated; empty: every table)."""

    tenant_id: uuid.UUID
    snapshot_interval: str
    list_tables: str
    updated_at: Instant | None
    """When it was last set; null while the tenant has the defaults."""


class ConfigurationEnvelope(msgspec.Struct):
    """The tenant's snapshot configuration."""

    data: ConfigurationModel
    message: str
    sent_at: Instant


_CONFIGURATION = answer(ConfigurationEnvelope, "the tenant's snapshot configuration")


def _decode(body: bytes, kind: type[_BodyT]) -> _BodyT:
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise validation_error(f"invalid body: {exc}", {"reason": str(exc)}) from None
    except msgspec.DecodeError:
        raise validation_error("the body must be a JSON object") from None


def parse_list_tables(text: str) -> list[str]:
    """The tables of a ``list_tables`` value, each ``schema.table``, without repeats; empty means every table."""
    tables: list[str] = []
    for item in text.split(","):
        name = item.strip()
        if not name:
            continue
        if not is_qualified_table_name(name):
            raise validation_error(
                f"list_tables: {name[:80]!r} is not 'schema.table' (two identifiers)",
                {"field": "list_tables", "table": name[:80]},
            )
        if name not in tables:
            tables.append(name)
    if len(tables) > MAX_LIST_TABLES:
        raise validation_error(f"list_tables may name at most {MAX_LIST_TABLES} tables", {"field": "list_tables"})
    return tables


def _tenant(principal: Principal, named: uuid.UUID | None) -> uuid.UUID:
    if named is None or named == principal.tenant_id:
        return principal.tenant_id
    if not principal.is_global_admin:
        raise forbidden("configuring another tenant needs the global admin role")
    return named


def _shown(config: TenantConfig) -> dict[str, Any]:
    return {
        "tenant_id": str(config.tenant_id),
        "snapshot_interval": config.snapshot_interval,
        "list_tables": ",".join(config.snapshot_list_tables),
        "updated_at": rfc3339(config.updated_at),
    }


@get(
    "/v1/configuration",
    tags=["configuration"],
    summary="Get the tenant's snapshot configuration",
    responses={200: _CONFIGURATION},
)
async def get_configuration(admin: PrincipalDep, services: ServicesDep) -> Response[dict[str, Any]]:
    """The caller's tenant's snapshot schedule and tables (the defaults when never set)."""
    config = await services.tenant_configs.get(admin.tenant_id)
    if config is None:
        shown: dict[str, Any] = {
            "tenant_id": str(admin.tenant_id),
            "snapshot_interval": DEFAULT_SNAPSHOT_INTERVAL,
            "list_tables": "",
            "updated_at": None,
        }
    else:
        shown = _shown(config)
    return envelope(shown, "Get configuration successfully")


@put(
    "/v1/configuration/snapshot-interval",
    tags=["configuration"],
    summary="Update the snapshot schedule",
    responses={200: _CONFIGURATION},
    opt={"request_body": SnapshotIntervalBody},
)
async def put_snapshot_interval(
    admin: PrincipalDep, services: ServicesDep, request: Request[Any, Any, Any]
) -> Response[dict[str, Any]]:
    """Set the cron expression (5 fields) on which the tenant's snapshots are taken."""
    body = _decode(await request.body(), SnapshotIntervalBody)
    if not is_valid_cron(body.snapshot_interval):
        raise validation_error(
            "snapshot_interval must be a 5-field cron expression such as '0 * * * *'", {"field": "snapshot_interval"}
        )
    cron = " ".join(body.snapshot_interval.split())
    config = await services.tenant_configs.set_snapshot_interval(_tenant(admin, body.tenant_id), cron, admin.user_id)
    return envelope(_shown(config), "Updated snapshot interval successfully")


@put(
    "/v1/configuration/snapshot-list-tables",
    tags=["configuration"],
    summary="Update the snapshot tables",
    responses={200: _CONFIGURATION},
    opt={"request_body": SnapshotListTablesBody},
)
async def put_snapshot_list_tables(
    admin: PrincipalDep, services: ServicesDep, request: Request[Any, Any, Any]
) -> Response[dict[str, Any]]:
    """Set the tables (``schema.table``, comma separated) the tenant's snapshots cover; empty means every table."""
    body = _decode(await request.body(), SnapshotListTablesBody)
    tables = parse_list_tables(body.list_tables)
    config = await services.tenant_configs.set_snapshot_list_tables(
        _tenant(admin, body.tenant_id), tables, admin.user_id
    )
    return envelope(_shown(config), "Updated snapshot list tables successfully")


ROUTES = [get_configuration, put_snapshot_interval, put_snapshot_list_tables]
