"""``DELETE /admin/users/{user_id}``: the erasure job terminates the user's live sessions, erases their sessions,
activity and attributions (not the tenant's events), is idempotent, and keeps no trace of whom it erased."""

import asyncio
import uuid

import asyncpg
import pytest
from websockets.exceptions import ConnectionClosed

from store.erasure import user_digest
from tests.live.support import TENANT, Watcher, of_type, open_socket
from tests.support import bearer, make_token

ADMIN = bearer(make_token("ops", TENANT, admin=True))
GONE_TOKEN = make_token("leaving", TENANT)
GONE = bearer(GONE_TOKEN)
STAYING = bearer(make_token("staying", TENANT))


async def finished(client, job_id, headers=ADMIN, timeout_s=30.0):
    """The job once it has ended (polled: the job runs in the background)."""
    async with asyncio.timeout(timeout_s):
        while True:
            job = (await client.get(f"/admin/jobs/{job_id}", headers=headers)).json()["data"]
            if job["status"] not in ("scheduled", "running"):
                return job
            await asyncio.sleep(0.05)


async def counts(dsn, user):
    conn = await asyncpg.connect(dsn)
    try:
        return {
            "sessions": await conn.fetchval("SELECT count(*) FROM sessions WHERE user_id = $1", user),
            "activity": await conn.fetchval(
                "SELECT count(*) FROM session_activity a WHERE a.actor_id = $1"
                " OR a.session_id IN (SELECT id FROM sessions WHERE user_id = $1)",
                user,
            ),
            "attributions": await conn.fetchval(
                "SELECT (SELECT count(*) FROM sessions WHERE updated_by = $1 AND user_id <> $1)"
                " + (SELECT count(*) FROM settings WHERE updated_by = $1)",
                user,
            ),
            "events": await conn.fetchval("SELECT count(*) FROM events"),
        }
    finally:
        await conn.close()


async def test_erasure_terminates_erases_and_keeps_only_a_digest(live_server, history):
    dsn = live_server.settings.database_url
    async with live_server.client() as client:
        mine = [(await client.post("/session", headers=GONE)).json()["data"]["id"] for _ in range(3)]
        await client.post(f"/session/{mine[0]}/terminate", headers=GONE)
        theirs = (await client.post("/session", headers=STAYING)).json()["data"]["id"]
        # The leaving user also left a trace in a session that stays: an admin's terminate records who did it.
        leaving_admin = bearer(make_token("leaving", TENANT, admin=True))
        await client.post("/admin/sessions/terminate", json={"session_ids": [theirs]}, headers=leaving_admin)
        before = await counts(dsn, "leaving")
        assert before["sessions"] == 3
        assert before["attributions"] == 1
        async with open_socket(live_server.url, mine[1], GONE_TOKEN) as ws:
            watcher = Watcher(ws, history)
            await watcher.until(of_type("hello"))
            answer = await client.delete("/admin/users/leaving", headers=ADMIN)
            assert answer.status_code == 202, answer.text
            job = answer.json()["data"]
            assert job["kind"] == "user_erasure"
            assert job["params"] == {"user_id": "leaving"}
            # The live session is terminated first: its viewer is told and closed.
            await watcher.until(of_type("error", code="SESSION_INACTIVE"))
            with pytest.raises(ConnectionClosed) as closed:
                await watcher.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4409
        done = await finished(client, job["id"])
        assert done["status"] == "completed", done
        # Besides what was there before, the log got the terminations and the viewer's leaving: erased as well.
        assert done["result"]["sessions"] == 3
        assert done["result"]["activity_entries"] >= before["activity"]
        assert done["result"]["attributions"] == 1
        assert done["progress"] == {"done": 3, "total": 3, "fraction": 1.0}
        assert done["params"] == {"user_digest": user_digest(TENANT, "leaving")}
        assert "leaving" not in str(done)
        after = await counts(dsn, "leaving")
        assert after == {"sessions": 0, "activity": 0, "attributions": 0, "events": before["events"]}
        # The other user's session and its log stay.
        log = await client.get(f"/admin/sessions/{theirs}/events", headers=ADMIN)
        assert [e["type"] for e in log.json()["data"]] == ["created"]
        # Asking again erases nothing more and completes.
        again = await client.delete("/admin/users/leaving", headers=ADMIN)
        assert again.status_code == 202
        assert again.json()["data"]["id"] != job["id"]
        repeat = await finished(client, again.json()["data"]["id"])
        assert repeat["status"] == "completed"
        assert repeat["result"] == {"sessions": 0, "activity_entries": 0, "attributions": 0}


async def test_erasure_rules_and_bad_input(live_server):
    async with live_server.client() as client:
        user = await client.delete("/admin/users/someone", headers=GONE)
        too_long = await client.delete("/admin/users/" + "u" * 257, headers=ADMIN)
        other = await client.delete("/admin/users/someone", params={"tenant_id": str(uuid.UUID(int=5))}, headers=ADMIN)
        malformed = await client.delete("/admin/users/someone", params={"tenant_id": "x"}, headers=ADMIN)
    assert user.status_code == 403
    assert too_long.status_code == 400
    assert too_long.json()["error"]["details"]["field"] == "user_id"
    assert other.status_code == 403
    assert malformed.status_code == 400
    assert malformed.json()["error"]["details"]["field"] == "tenant_id"


async def test_cancelling_a_running_erasure_stops_it_at_its_next_step(live_server):
    dsn = live_server.settings.database_url
    async with live_server.client() as client:
        for _ in range(4):
            session_id = (await client.post("/session", headers=GONE)).json()["data"]["id"]
            await client.post(f"/session/{session_id}/terminate", headers=GONE)
        holder = await asyncpg.connect(dsn)
        try:
            hold = holder.transaction()
            await hold.start()
            third = await holder.fetchval(
                "SELECT id FROM sessions WHERE user_id = 'leaving' ORDER BY id OFFSET 2 LIMIT 1"
            )
            await holder.execute("SELECT id FROM sessions WHERE id = $1 FOR UPDATE", third)
            job_id = (await client.delete("/admin/users/leaving", headers=ADMIN)).json()["data"]["id"]
            async with asyncio.timeout(30):
                while (await client.get(f"/admin/jobs/{job_id}", headers=ADMIN)).json()["data"]["progress"]["done"] < 2:
                    await asyncio.sleep(0.05)
            asked = await client.delete(f"/admin/jobs/{job_id}", headers=ADMIN)
            same = await client.delete("/admin/users/leaving", headers=ADMIN)
            await hold.rollback()
        finally:
            await holder.close()
        assert asked.status_code == 202
        assert asked.json()["data"]["cancel_requested"] is True
        assert same.status_code == 202
        assert same.json()["data"]["id"] == job_id
        job = await finished(client, job_id)
        again = await client.delete(f"/admin/jobs/{job_id}", headers=ADMIN)
    assert job["status"] == "cancelled"
    assert job["result"]["sessions"] == 3
    assert (await counts(dsn, "leaving"))["sessions"] == 1
    assert again.status_code == 409
