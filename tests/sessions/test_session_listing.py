import uuid

import pytest

from tests.support import bearer, make_token

TENANT = uuid.UUID(int=303)
ADMIN = bearer(make_token("admin", TENANT, admin=True))


@pytest.fixture
async def seven_sessions(server):
    """Seven sessions of three users; the first two terminated."""
    async with server.client() as client:
        ids = []
        for i in range(7):
            user = bearer(make_token(f"user-{i % 3}", TENANT))
            ids.append((await client.post("/session", headers=user)).json()["data"]["id"])
        for i in range(2):
            await client.post(f"/session/{ids[i]}/terminate", headers=bearer(make_token(f"user-{i % 3}", TENANT)))
    return ids


async def test_pages_concatenate_to_the_whole_list_with_the_seed_page_object(server, seven_sessions):
    async with server.client() as client:
        pages = [
            await client.get("/admin/sessions", params={"page": n, "size": 3, "sort": "created_at,asc"}, headers=ADMIN)
            for n in (1, 2, 3)
        ]
    assert [p.status_code for p in pages] == [200, 200, 200]
    assert [row["id"] for p in pages for row in p.json()["data"]] == seven_sessions
    assert pages[0].json()["page"] == {
        "number": 1,
        "size": 3,
        "total_records": 7,
        "count": 3,
        "sort": ["created_at,asc"],
    }
    assert pages[2].json()["page"]["count"] == 1
    assert pages[0].json()["message"] == "Retrieved list sessions successfully"


async def test_filters_by_status_and_user(server, seven_sessions):
    async with server.client() as client:
        inactive = await client.get("/admin/sessions", params={"status": "INACTIVE"}, headers=ADMIN)
        user_1 = await client.get("/admin/sessions", params={"user_id": "user-1"}, headers=ADMIN)
        both = await client.get("/admin/sessions", params={"user_id": "user-1", "status": "ACTIVE"}, headers=ADMIN)
    assert sorted(row["id"] for row in inactive.json()["data"]) == sorted(seven_sessions[:2])
    assert {row["user_id"] for row in user_1.json()["data"]} == {"user-1"}
    assert user_1.json()["page"]["total_records"] == 2
    assert both.json()["page"]["total_records"] == 1


async def test_sorts_by_allowed_columns_in_either_direction(server, seven_sessions):
    async with server.client() as client:
        by_user = await client.get(
            "/admin/sessions", params=[("sort", "user_id,desc"), ("sort", "created_at,asc")], headers=ADMIN
        )
        by_status = await client.get("/admin/sessions", params={"sort": "status,asc"}, headers=ADMIN)
    users = [row["user_id"] for row in by_user.json()["data"]]
    assert users == sorted(users, reverse=True)
    assert by_user.json()["page"]["sort"] == ["user_id,desc", "created_at,asc"]
    statuses = [row["status"] for row in by_status.json()["data"]]
    assert statuses == ["ACTIVE"] * 5 + ["INACTIVE"] * 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "password,asc"}, "sort"),
        ({"sort": "created_at,sideways"}, "sort"),
        ({"size": "201"}, "size"),
        ({"size": "0"}, "size"),
        ({"page": "0"}, "page"),
        ({"page": "one"}, "page"),
        ({"status": "active"}, "status"),
        ({"tenant_id": "nope"}, "tenant_id"),
    ],
)
async def test_bad_listing_parameters_are_a_400_naming_the_field(server, params, field):
    async with server.client() as client:
        response = await client.get("/admin/sessions", params=params, headers=ADMIN)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert response.json()["error"]["details"]["field"] == field


async def test_status_counts_active_sessions(server, seven_sessions):
    async with server.client() as client:
        response = await client.get("/admin/sessions/status", headers=ADMIN)
    assert response.json()["data"] == {"active_sessions": 5}
