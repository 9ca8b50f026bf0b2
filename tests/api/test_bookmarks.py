"""Bookmarks through the real server: create, list by time window with paging, delete; per user, per tenant."""

import uuid
from datetime import UTC, datetime, timedelta

from tests.support import bearer, make_token

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_bookmarks_are_listed_in_time_order_by_window_and_page_and_deleted(server):
    me = bearer(make_token("me", uuid.UUID(int=7)))
    async with server.client() as client:
        made = []
        for minute in (30, 10, 20, 40, 0):
            answer = await client.post(
                "/bookmarks", json={"at": stamp(T0 + timedelta(minutes=minute)), "note": f"m{minute}"}, headers=me
            )
            assert answer.status_code == 201, answer.text
            made.append(answer.json()["data"])
        window = await client.get(
            "/bookmarks",
            params={"start": stamp(T0 + timedelta(minutes=10)), "end": stamp(T0 + timedelta(minutes=30))},
            headers=me,
        )
        pages, cursor = [], None
        while True:
            params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
            body = (await client.get("/bookmarks", params=params, headers=me)).json()
            assert body["page"]["count"] == len(body["data"]) <= 2
            pages += body["data"]
            cursor = body["page"]["next_cursor"]
            if cursor is None:
                break
        deleted = await client.delete(f"/bookmarks/{made[0]['id']}", headers=me)
        again = await client.delete(f"/bookmarks/{made[0]['id']}", headers=me)
        left = (await client.get("/bookmarks", headers=me)).json()["data"]
    assert [b["note"] for b in window.json()["data"]] == ["m10", "m20", "m30"]
    assert [b["note"] for b in pages] == ["m0", "m10", "m20", "m30", "m40"]
    assert made[0]["at"] == "2026-03-01T09:30:00Z"
    assert (deleted.status_code, again.status_code) == (204, 404)
    assert [b["note"] for b in left] == ["m0", "m10", "m20", "m40"]


async def test_another_users_or_tenants_bookmark_is_not_found(server):
    tenant = uuid.UUID(int=8)
    owner = bearer(make_token("owner", tenant))
    colleague = bearer(make_token("colleague", tenant, admin=True))
    stranger = bearer(make_token("owner", uuid.UUID(int=9)))  # the same user name in another tenant
    async with server.client() as client:
        made = (await client.post("/bookmarks", json={"at": stamp(T0), "note": "mine"}, headers=owner)).json()["data"]
        seen = [(await client.get("/bookmarks", headers=who)).json()["data"] for who in (colleague, stranger)]
        deletes = [
            (await client.delete(f"/bookmarks/{made['id']}", headers=who)).status_code for who in (colleague, stranger)
        ]
        kept = (await client.get("/bookmarks", headers=owner)).json()["data"]
    assert seen == [[], []]
    assert deletes == [404, 404]
    assert [b["id"] for b in kept] == [made["id"]]


async def test_bad_bookmark_requests_name_the_field_and_store_nothing(server):
    me = bearer(make_token("me", uuid.UUID(int=10)))
    cases = [
        ({"note": "no instant"}, "at"),
        ({"at": "tomorrow", "note": ""}, "at"),
        ({"at": "2026-03-01T09:00:00", "note": ""}, "at"),
        ({"at": stamp(T0), "note": "x" * 501}, "note"),
    ]
    async with server.client() as client:
        answers = [await client.post("/bookmarks", json=body, headers=me) for body, _ in cases]
        wrong_type = await client.post("/bookmarks", json={"at": stamp(T0), "note": 5}, headers=me)
        lists = [
            await client.get("/bookmarks", params=params, headers=me)
            for params in (
                {"limit": "0"},
                {"cursor": "nonsense"},
                {"start": "x"},
                {"start": stamp(T0), "end": stamp(T0 - timedelta(1))},
            )
        ]
        bad_id = await client.delete("/bookmarks/not-a-uuid", headers=me)
        anonymous = await client.get("/bookmarks")
        stored = (await client.get("/bookmarks", headers=me)).json()["data"]
    for (body, field), answer in zip(cases, answers, strict=True):
        assert answer.status_code == 400, body
        assert answer.json()["error"]["details"]["field"] == field
    assert wrong_type.status_code == 400
    assert "note" in wrong_type.text
    assert [a.json()["error"]["details"]["field"] for a in lists] == ["limit", "cursor", "start", "start"]
    assert bad_id.json()["error"]["details"]["field"] == "bookmark_id"
    assert anonymous.status_code == 401
    assert stored == []


async def test_the_openapi_document_describes_the_bookmark_operations(server):
    async with server.client() as client:
        paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert {"get", "post"} <= set(paths["/bookmarks"])
    assert "delete" in paths["/bookmarks/{bookmark_id}"]
