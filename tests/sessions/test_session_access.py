"""Owner / non-owner / admin / other-tenant / global-admin matrix on every session endpoint."""

import uuid

import pytest

from tests.support import bearer, make_token

T1 = uuid.UUID(int=101)
T2 = uuid.UUID(int=202)
OWNER = make_token("owner", T1)
PEER = make_token("peer", T1)
ADMIN = make_token("admin-1", T1, admin=True)
STRANGER = make_token("stranger", T2)
OTHER_ADMIN = make_token("admin-2", T2, admin=True)
GLOBAL_ADMIN = make_token("root", T2, roles=["admin", "msr-global-admin"])

CALLERS = {
    "owner": OWNER,
    "peer": PEER,
    "admin": ADMIN,
    "stranger": STRANGER,
    "other_admin": OTHER_ADMIN,
    "global_admin": GLOBAL_ADMIN,
}


async def _owned_session(client):
    response = await client.post("/session", headers=bearer(OWNER))
    assert response.status_code == 201
    return response.json()["data"]["id"]


@pytest.mark.parametrize(
    ("caller", "expected"),
    [("owner", 204), ("peer", 403), ("admin", 403), ("stranger", 404), ("other_admin", 404), ("global_admin", 403)],
)
async def test_only_the_owner_terminates_through_the_user_endpoint(server, caller, expected):
    async with server.client() as client:
        session_id = await _owned_session(client)
        response = await client.post(f"/session/{session_id}/terminate", headers=bearer(CALLERS[caller]))
    assert response.status_code == expected
    if expected != 204:
        assert response.json()["error"]["code"] == ("FORBIDDEN" if expected == 403 else "NOT_FOUND")


@pytest.mark.parametrize(
    ("caller", "expected"),
    [("owner", 204), ("peer", 403), ("admin", 204), ("stranger", 404), ("other_admin", 404), ("global_admin", 204)],
)
async def test_delete_is_for_the_owner_and_admins_of_the_tenant(server, caller, expected):
    async with server.client() as client:
        session_id = await _owned_session(client)
        response = await client.delete(f"/session/{session_id}", headers=bearer(CALLERS[caller]))
        still_there = await client.get("/admin/sessions", headers=bearer(ADMIN))
    assert response.status_code == expected
    assert still_there.json()["page"]["total_records"] == (0 if expected == 204 else 1)


@pytest.mark.parametrize(
    ("caller", "outcome"),
    [
        ("admin", "terminated"),
        ("other_admin", "not_found"),
        ("global_admin", "terminated"),
    ],
)
async def test_admin_bulk_terminate_reaches_only_the_admins_tenant(server, caller, outcome):
    async with server.client() as client:
        session_id = await _owned_session(client)
        response = await client.post(
            "/admin/sessions/terminate", json={"session_ids": [session_id]}, headers=bearer(CALLERS[caller])
        )
    assert response.status_code == 200
    assert response.json()["data"][outcome] == [session_id]


@pytest.mark.parametrize("caller", ["owner", "peer", "stranger"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/admin/sessions/terminate"),
        ("GET", "/admin/sessions"),
        ("GET", "/admin/sessions/status"),
    ],
)
async def test_admin_endpoints_refuse_users_with_403(server, caller, method, path):
    async with server.client() as client:
        response = await client.request(
            method, path, json={"session_ids": [str(uuid.uuid4())]}, headers=bearer(CALLERS[caller])
        )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/session"),
        # Fixed ids: pytest-xdist's workers must collect the same test names.
        ("DELETE", f"/session/{uuid.UUID(int=404)}"),
        ("POST", f"/session/{uuid.UUID(int=404)}/terminate"),
        ("POST", "/admin/sessions/terminate"),
        ("GET", "/admin/sessions"),
        ("GET", "/admin/sessions/status"),
    ],
)
async def test_every_session_endpoint_needs_a_token(server, method, path):
    async with server.client() as client:
        response = await client.request(method, path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


async def test_an_admin_lists_only_their_tenant_unless_global_and_naming_another(server):
    async with server.client() as client:
        await _owned_session(client)
        await client.post("/session", headers=bearer(STRANGER))
        own = await client.get("/admin/sessions", headers=bearer(ADMIN))
        other = await client.get("/admin/sessions", headers=bearer(OTHER_ADMIN))
        forbidden = await client.get("/admin/sessions", params={"tenant_id": str(T1)}, headers=bearer(OTHER_ADMIN))
        global_default = await client.get("/admin/sessions", headers=bearer(GLOBAL_ADMIN))
        global_named = await client.get("/admin/sessions", params={"tenant_id": str(T1)}, headers=bearer(GLOBAL_ADMIN))
    assert [row["user_id"] for row in own.json()["data"]] == ["owner"]
    assert [row["user_id"] for row in other.json()["data"]] == ["stranger"]
    assert forbidden.status_code == 403
    assert [row["user_id"] for row in global_default.json()["data"]] == ["stranger"]
    assert [row["user_id"] for row in global_named.json()["data"]] == ["owner"]
