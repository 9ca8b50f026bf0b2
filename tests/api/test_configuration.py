"""PUT /v1/configuration/snapshot-interval and /snapshot-list-tables (seed 001): validated, admin only."""

import uuid

from tests.support import bearer, make_token

TENANT = uuid.UUID(int=44)
OTHER = uuid.UUID(int=55)
ADMIN = bearer(make_token("ops", TENANT, admin=True))
USER = bearer(make_token("viewer", TENANT))


async def test_the_snapshot_interval_is_stored_for_the_callers_tenant_and_answered(server):
    async with server.client() as client:
        response = await client.put(
            "/v1/configuration/snapshot-interval", json={"snapshot_interval": "*/15  * * * *"}, headers=ADMIN
        )
        shown = await client.get("/v1/configuration", headers=ADMIN)
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["tenant_id"], data["snapshot_interval"], data["list_tables"]) == (str(TENANT), "*/15 * * * *", "")
    assert shown.json()["data"]["snapshot_interval"] == "*/15 * * * *"


async def test_a_tenant_that_never_configured_shows_the_defaults(server):
    async with server.client() as client:
        response = await client.get("/v1/configuration", headers=ADMIN)
    assert response.json()["data"] == {
        "tenant_id": str(TENANT),
        "snapshot_interval": "0 * * * *",
        "list_tables": "",
        "updated_at": None,
    }


async def test_an_invalid_snapshot_interval_is_a_400_naming_the_field(server):
    async with server.client() as client:
        for cron in ("", "* * * *", "0 0 * * * *", "every hour", "61 * * * *", "0 25 * * *"):
            response = await client.put(
                "/v1/configuration/snapshot-interval", json={"snapshot_interval": cron}, headers=ADMIN
            )
            assert response.status_code == 400, cron
            assert response.json()["error"]["details"] == {"field": "snapshot_interval"}, cron
        for body in ({}, {"snapshot_interval": 5}, {"snapshot_interval": "0 * * * *", "extra": 1}, []):
            response = await client.put("/v1/configuration/snapshot-interval", json=body, headers=ADMIN)
            assert response.status_code == 400, body


async def test_the_snapshot_tables_are_schema_dot_table_items_separated_by_commas(server):
    async with server.client() as client:
        response = await client.put(
            "/v1/configuration/snapshot-list-tables",
            json={"list_tables": " public.vehicles, ops.Zones ,public.vehicles,"},
            headers=ADMIN,
        )
        cleared = await client.put("/v1/configuration/snapshot-list-tables", json={"list_tables": ""}, headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["data"]["list_tables"] == "public.vehicles,ops.Zones"
    assert response.json()["data"]["snapshot_interval"] == "0 * * * *"
    assert cleared.json()["data"]["list_tables"] == ""


async def test_a_table_that_is_not_schema_dot_table_is_a_400(server):
    async with server.client() as client:
        for tables in ("vehicles", "public.vehicles,zones", "a.b.c", "public.1x", "public.a-b", "public.", "'x'.y"):
            response = await client.put(
                "/v1/configuration/snapshot-list-tables", json={"list_tables": tables}, headers=ADMIN
            )
            assert response.status_code == 400, tables
            assert response.json()["error"]["details"]["field"] == "list_tables", tables


async def test_configuration_needs_the_admin_role(server):
    async with server.client() as client:
        interval = await client.put(
            "/v1/configuration/snapshot-interval", json={"snapshot_interval": "0 * * * *"}, headers=USER
        )
        tables = await client.put("/v1/configuration/snapshot-list-tables", json={"list_tables": "a.b"}, headers=USER)
        shown = await client.get("/v1/configuration", headers=USER)
    assert interval.status_code == tables.status_code == shown.status_code == 403


async def test_another_tenant_needs_the_global_admin_role(server):
    global_admin = bearer(make_token("root", TENANT, roles=["admin", "msr-global-admin"]))
    body = {"snapshot_interval": "5 * * * *", "tenant_id": str(OTHER)}
    async with server.client() as client:
        refused = await client.put("/v1/configuration/snapshot-interval", json=body, headers=ADMIN)
        allowed = await client.put("/v1/configuration/snapshot-interval", json=body, headers=global_admin)
        own = await client.get("/v1/configuration", headers=ADMIN)
    assert refused.status_code == 403
    assert allowed.json()["data"]["tenant_id"] == str(OTHER)
    assert own.json()["data"]["snapshot_interval"] == "0 * * * *"
