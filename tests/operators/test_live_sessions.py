"""``GET /admin/sessions/live`` across two replicas: the owner replica, the clock and every replica's viewers, as
seen through either replica; an admin watches another user's session read-only; who may list what."""

import asyncio
import uuid

from tests.live.support import TENANT, Watcher, of_type, open_socket, parse_time
from tests.support import bearer, make_token

OWNER_TOKEN = make_token("viewer-1", TENANT)
ADMIN_TOKEN = make_token("ops", TENANT, admin=True)
ADMIN = bearer(ADMIN_TOKEN)
OTHER_ADMIN = bearer(make_token("ops", uuid.UUID(int=9), admin=True))
GLOBAL = bearer(make_token("root", uuid.UUID(int=9), admin=True, roles=["admin", "msr-global-admin"]))


async def live_until(client, predicate, headers=ADMIN, timeout_s=15.0):
    """The live list once ``predicate`` holds (replicas publish about once a second)."""
    async with asyncio.timeout(timeout_s):
        while True:
            answer = await client.get("/admin/sessions/live", headers=headers)
            assert answer.status_code == 200, answer.text
            if predicate(answer.json()["data"]):
                return answer.json()["data"]
            await asyncio.sleep(0.1)


async def test_live_sessions_and_their_viewers_across_two_replicas(live_server, live_settings, start_server, history):
    async with start_server(live_settings) as other, other.client() as b, live_server.client() as a:
        session_id = (await a.post("/session", headers=bearer(OWNER_TOKEN))).json()["data"]["id"]
        async with open_socket(live_server.url, session_id, OWNER_TOKEN) as owner_ws:
            owner = Watcher(owner_ws, history)
            await owner.until(of_type("hello"))
            await owner.send(type="start", speed=1, id="go")
            await owner.until(of_type("status", reply_to="go"))
            async with open_socket(other.url, session_id, ADMIN_TOKEN) as admin_ws:
                admin = Watcher(admin_ws, history)
                await admin.until(of_type("hello"))
                # Read-only: the admin's commands are refused, the owner's playback goes on.
                await admin.send(type="stop", id="nope")
                refused = await admin.until(of_type("error", reply_to="nope"))
                assert refused["code"]
                listed = await live_until(b, lambda data: data and len(data[0]["viewers"]) == 2)
                [entry] = listed
                assert entry["session_id"] == session_id
                assert entry["tenant_id"] == str(TENANT)
                assert entry["state"] == "playing"
                assert entry["speed"] == 1
                assert parse_time(entry["range"]["start"]) <= parse_time(entry["position"])
                assert parse_time(entry["position"]) <= parse_time(entry["range"]["end"])
                viewers = {viewer["user_id"]: viewer for viewer in entry["viewers"]}
                assert set(viewers) == {"viewer-1", "ops"}
                assert viewers["viewer-1"]["access"] == "control"
                assert viewers["ops"]["access"] == "view"
                # The session was loaded first by replica A, which owns its clock; the admin watches on B.
                assert entry["owner_replica"] == viewers["viewer-1"]["replica"]
                assert viewers["ops"]["replica"] != viewers["viewer-1"]["replica"]
                for viewer in viewers.values():
                    assert viewer["frames_behind"] >= 0
                    assert viewer["conflated"] >= 0
                    assert viewer["resynced"] >= 0
                    assert viewer["since"].endswith("Z")
                through_a = await live_until(a, lambda data: data and len(data[0]["viewers"]) == 2)
                assert through_a[0]["owner_replica"] == entry["owner_replica"]
                assert (await b.get("/admin/sessions/live", headers=OTHER_ADMIN)).json()["data"] == []
                by_global = (await b.get("/admin/sessions/live", headers=GLOBAL)).json()["data"]
                assert [e["session_id"] for e in by_global] == [session_id]
                user = await b.get("/admin/sessions/live", headers=bearer(OWNER_TOKEN))
                assert user.status_code == 403
                naming = await b.get("/admin/sessions/live", params={"tenant_id": str(TENANT)}, headers=OTHER_ADMIN)
                assert naming.status_code == 403
            await live_until(b, lambda data: data and [v["user_id"] for v in data[0]["viewers"]] == ["viewer-1"])
            await owner.send(type="stop", id="halt")
            await owner.until(of_type("status", reply_to="halt"))
        # Nobody watches and the clock is stopped: the session is no longer live anywhere.
        assert await live_until(b, lambda data: data == []) == []
