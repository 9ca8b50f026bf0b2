import asyncio
import uuid

import asyncpg

from tests.support import bearer, make_token

SEED_FIELDS = {
    "id",
    "user_id",
    "tenant_id",
    "created_at",
    "update_at",
    "created_by",
    "updated_by",
    "status",
    "occ_lock",
}
TENANT = uuid.UUID("2878ac59-ad8b-4a94-bd97-2d9ef371fc06")


async def test_create_session_answers_the_seed_fields_in_the_envelope(server):
    token = make_token("f67cb8f5-0645-444d-a4bd-c61aaf1b2db0", TENANT)
    async with server.client() as client:
        response = await client.post("/session", headers=bearer(token))
    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "Created session successfully"
    assert body["sent_at"].endswith("Z")
    data = body["data"]
    assert set(data) >= SEED_FIELDS
    assert data["user_id"] == data["created_by"] == data["updated_by"] == "f67cb8f5-0645-444d-a4bd-c61aaf1b2db0"
    assert data["tenant_id"] == str(TENANT)
    assert data["status"] == "ACTIVE"
    assert data["occ_lock"] == 0
    assert data["update_at"] == data["updated_at"]
    uuid.UUID(data["id"])


async def test_terminate_makes_the_session_inactive_and_bumps_occ_lock(server):
    user = bearer(make_token("u1", TENANT))
    admin = bearer(make_token("boss", TENANT, admin=True))
    async with server.client() as client:
        session = (await client.post("/session", headers=user)).json()["data"]
        terminated = await client.post(f"/session/{session['id']}/terminate", headers=user)
        listed = await client.get("/admin/sessions", params={"user_id": "u1"}, headers=admin)
    assert terminated.status_code == 204
    [row] = listed.json()["data"]
    assert row["status"] == "INACTIVE"
    assert row["occ_lock"] == 1


async def test_terminating_twice_is_harmless(server):
    user = bearer(make_token("u1", TENANT))
    async with server.client() as client:
        session = (await client.post("/session", headers=user)).json()["data"]
        first = await client.post(f"/session/{session['id']}/terminate", headers=user)
        second = await client.post(f"/session/{session['id']}/terminate", headers=user)
    assert (first.status_code, second.status_code) == (204, 204)


async def test_a_stale_occ_lock_is_a_409_conflict_and_changes_nothing(server):
    user = bearer(make_token("u1", TENANT))
    admin = bearer(make_token("boss", TENANT, admin=True))
    async with server.client() as client:
        session = (await client.post("/session", headers=user)).json()["data"]
        stale_terminate = await client.post(f"/session/{session['id']}/terminate", params={"occ_lock": 7}, headers=user)
        stale_delete = await client.delete(f"/session/{session['id']}", headers={**user, "If-Match": "3"})
        listed = await client.get("/admin/sessions", headers=admin)
        current = await client.post(f"/session/{session['id']}/terminate", params={"occ_lock": 0}, headers=user)
    assert stale_terminate.status_code == 409
    assert stale_terminate.json()["error"]["code"] == "CONFLICT"
    assert stale_delete.status_code == 409
    assert [row["status"] for row in listed.json()["data"]] == ["ACTIVE"]
    assert current.status_code == 204


async def test_delete_removes_the_session_and_frees_its_slot(server):
    user = bearer(make_token("u1", TENANT))
    admin = bearer(make_token("boss", TENANT, admin=True))
    async with server.client() as client:
        session = (await client.post("/session", headers=user)).json()["data"]
        deleted = await client.delete(f"/session/{session['id']}", headers=user)
        again = await client.delete(f"/session/{session['id']}", headers=user)
        status = await client.get("/admin/sessions/status", headers=admin)
    assert deleted.status_code == 204
    assert again.status_code == 404
    assert status.json()["data"] == {"active_sessions": 0}


async def test_bad_session_ids_and_occ_locks_are_400(server):
    user = bearer(make_token("u1", TENANT))
    async with server.client() as client:
        bad_id = await client.post("/session/not-a-uuid/terminate", headers=user)
        session = (await client.post("/session", headers=user)).json()["data"]
        bad_lock = await client.post(f"/session/{session['id']}/terminate", params={"occ_lock": "x"}, headers=user)
    assert bad_id.status_code == 400
    assert bad_id.json()["error"]["details"] == {"field": "session_id"}
    assert bad_lock.status_code == 400
    assert bad_lock.json()["error"]["details"] == {"field": "occ_lock"}


async def test_admin_terminates_many_and_reports_each_outcome(server):
    admin = bearer(make_token("boss", TENANT, admin=True))
    async with server.client() as client:
        ids = [
            (await client.post("/session", headers=bearer(make_token(f"u{i}", TENANT)))).json()["data"]["id"]
            for i in range(3)
        ]
        await client.post(f"/session/{ids[0]}/terminate", headers=bearer(make_token("u0", TENANT)))
        unknown = str(uuid.uuid4())
        response = await client.post("/admin/sessions/terminate", json={"session_ids": [*ids, unknown]}, headers=admin)
        status = await client.get("/admin/sessions/status", headers=admin)
    assert response.status_code == 200
    assert response.json()["data"] == {
        "terminated": ids[1:],
        "already_inactive": ids[:1],
        "not_found": [unknown],
    }
    assert status.json()["data"]["active_sessions"] == 0


async def test_admin_terminate_validates_its_body(server):
    admin = bearer(make_token("boss", TENANT, admin=True))
    async with server.client() as client:
        answers = await asyncio.gather(
            client.post("/admin/sessions/terminate", json={"session_ids": []}, headers=admin),
            client.post("/admin/sessions/terminate", json={"session_ids": ["nope"]}, headers=admin),
            client.post("/admin/sessions/terminate", json={"ids": []}, headers=admin),
            client.post("/admin/sessions/terminate", content=b"[", headers=admin),
        )
    assert [a.status_code for a in answers] == [400, 400, 400, 400]
    assert all(a.json()["error"]["code"] == "VALIDATION_ERROR" for a in answers)


async def test_every_change_is_written_to_the_activity_log(server, database_url):

    user = bearer(make_token("u1", TENANT))
    async with server.client() as client:
        kept = (await client.post("/session", headers=user)).json()["data"]
        gone = (await client.post("/session", headers=user)).json()["data"]
        await client.post(f"/session/{kept['id']}/terminate", headers=user)
        await client.delete(f"/session/{gone['id']}", headers=user)
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT session_id::text, actor_id, action FROM session_activity ORDER BY id")
    finally:
        await conn.close()
    assert [(r["session_id"], r["actor_id"], r["action"]) for r in rows] == [
        (kept["id"], "u1", "created"),
        (gone["id"], "u1", "created"),
        (kept["id"], "u1", "terminated"),
        (gone["id"], "u1", "deleted"),
    ]
