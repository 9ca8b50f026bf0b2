"""A session's activity log (``GET /admin/sessions/{id}/events``) and a user's sessions
(``GET /admin/users/{user_id}/sessions``): what is recorded, filters, paging, sort, tenancy and bad parameters."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.live.support import TENANT, Watcher, of_type, open_socket, rfc3339
from tests.support import bearer, make_token

ADMIN = bearer(make_token("ops", TENANT, admin=True))
OTHER_ADMIN = bearer(make_token("ops", uuid.UUID(int=7), admin=True))
GLOBAL = bearer(make_token("root", uuid.UUID(int=7), admin=True, roles=["admin", "msr-global-admin"]))
OWNER_TOKEN = make_token("viewer-1", TENANT)
OWNER = bearer(OWNER_TOKEN)


@pytest.fixture
async def played(live_server, history):
    """A session of viewer-1 that was watched, started, sought, sped up, stopped, then terminated."""
    async with live_server.client() as client:
        session_id = (await client.post("/session", headers=OWNER)).json()["data"]["id"]
        async with open_socket(live_server.url, session_id, OWNER_TOKEN) as ws:
            watcher = Watcher(ws, history)
            await watcher.until(of_type("hello"))
            await watcher.state_complete()
            target = rfc3339(history.first + timedelta(seconds=5))
            for command in ({"type": "start", "speed": 2}, {"type": "seek", "timestamp": target}):
                await watcher.send(**command, id=command["type"])
                await watcher.until(of_type("status", reply_to=command["type"]))
            await watcher.send(type="speed", speed=4, id="speed")
            await watcher.until(of_type("status", reply_to="speed"))
            await watcher.send(type="stop", id="stop")
            await watcher.until(of_type("status", reply_to="stop"))
        await client.post(f"/session/{session_id}/terminate", headers=OWNER)
    return session_id


async def _events(server, session_id, headers=ADMIN, **params):
    async with server.client() as client:
        return await client.get(f"/admin/sessions/{session_id}/events", params=params, headers=headers)


async def _until_detached(server, session_id):
    # The socket's close is logged by the server after the client left; wait on it (bounded) rather than sleep.
    for _ in range(200):
        answer = await _events(server, session_id, type="viewer_detached")
        if answer.json()["data"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("viewer_detached was never logged")


async def test_the_log_records_who_did_what_and_when(live_server, played, history):
    await _until_detached(live_server, played)
    answer = await _events(live_server, played)
    assert answer.status_code == 200, answer.text
    entries = answer.json()["data"]
    types = [entry["type"] for entry in entries]
    assert types == [
        "created",
        "viewer_attached",
        "started",
        "seeked",
        "speed_changed",
        "stopped",
        "viewer_detached",
        "terminated",
    ]
    by_type = {entry["type"]: entry for entry in entries}
    assert {entry["actor"] for entry in entries} == {"viewer-1"}
    assert by_type["viewer_attached"]["replica"]
    assert by_type["viewer_detached"]["replica"]
    assert by_type["viewer_attached"]["details"]["access"] == "control"
    # Playing, so the clock has moved on a little by the time the command is logged.
    assert by_type["seeked"]["details"]["position"].startswith(rfc3339(history.first + timedelta(seconds=5))[:-1])
    assert "from" in by_type["seeked"]["details"]
    assert by_type["speed_changed"]["details"]["speed"] == 4
    assert by_type["terminated"]["details"]["reason"] == "terminated"
    stamps = [datetime.fromisoformat(entry["at"].replace("Z", "+00:00")) for entry in entries]
    assert stamps == sorted(stamps)
    assert answer.json()["page"] == {"number": 1, "size": 50, "total_records": 8, "count": 8}


async def test_filters_window_and_pages(live_server, played):
    await _until_detached(live_server, played)
    everything = (await _events(live_server, played)).json()["data"]
    commands = await _events(live_server, played, type="started,stopped")
    assert [e["type"] for e in commands.json()["data"]] == ["started", "stopped"]
    pages = [(await _events(live_server, played, size=3, page=n)).json() for n in (1, 2, 3)]
    assert [e["id"] for p in pages for e in p["data"]] == [e["id"] for e in everything]
    assert pages[0]["page"]["total_records"] == 8
    cut = everything[2]["at"]
    later = (await _events(live_server, played, start=cut)).json()["data"]
    earlier = (await _events(live_server, played, end=cut)).json()["data"]
    assert len(later) + len(earlier) == 8
    assert all(e["at"] >= cut for e in later)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"type": "jumped"}, "type"),
        ({"size": "0"}, "size"),
        ({"size": "201"}, "size"),
        ({"page": "-1"}, "page"),
        ({"start": "yesterday"}, "start"),
        ({"end": "2024-01-01T00:00:00"}, "end"),
        ({"start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z"}, "start"),
    ],
)
async def test_bad_parameters_are_400_naming_the_field(live_server, played, params, field):
    answer = await _events(live_server, played, **params)
    assert answer.status_code == 400
    assert answer.json()["error"]["details"]["field"] == field


async def test_admin_only_and_other_tenants_do_not_exist(live_server, played):
    assert (await _events(live_server, played, headers=OWNER)).status_code == 403
    assert (await _events(live_server, played, headers=OTHER_ADMIN)).status_code == 404
    assert (await _events(live_server, played, headers=GLOBAL)).status_code == 200
    assert (await _events(live_server, uuid.uuid4())).status_code == 404
    malformed = await _events(live_server, "nope")
    assert malformed.status_code == 400
    assert malformed.json()["error"]["details"]["field"] == "session_id"


async def test_a_users_sessions_by_window_page_and_sort(live_server):
    user = bearer(make_token("someone", TENANT))
    async with live_server.client() as client:
        ids = [(await client.post("/session", headers=user)).json()["data"]["id"] for _ in range(5)]
        await client.post("/session", headers=OWNER)
        await client.post(f"/session/{ids[0]}/terminate", headers=user)

        async def listed(headers=ADMIN, **params):
            return await client.get("/admin/users/someone/sessions", params=params, headers=headers)

        pages = [(await listed(size=2, page=n, sort="created_at,asc")).json() for n in (1, 2, 3)]
        assert [s["id"] for p in pages for s in p["data"]] == ids
        assert pages[0]["page"] == {
            "number": 1,
            "size": 2,
            "total_records": 5,
            "count": 2,
            "sort": ["created_at,asc"],
        }
        newest_first = (await listed()).json()["data"]
        assert [s["id"] for s in newest_first] == ids[::-1]
        assert newest_first[-1]["status"] == "INACTIVE"
        assert newest_first[-1]["ended_reason"] == "terminated"
        third = newest_first[2]["created_at"]
        window = (await listed(start=third, sort="created_at,asc")).json()["data"]
        assert [s["id"] for s in window] == ids[2:]
        before = (await listed(end=third, sort="created_at,asc")).json()["data"]
        assert [s["id"] for s in before] == ids[:2]
        future = rfc3339(datetime.now(UTC) + timedelta(days=1))
        assert (await listed(start=future)).json()["data"] == []
        assert (await listed(headers=OTHER_ADMIN)).json()["page"]["total_records"] == 0
        global_view = await listed(headers=GLOBAL, tenant_id=str(TENANT))
        assert global_view.json()["page"]["total_records"] == 5
        assert (await listed(headers=OTHER_ADMIN, tenant_id=str(TENANT))).status_code == 403
        assert (await listed(headers=user)).status_code == 403
        for params, field in (
            ({"sort": "password,asc"}, "sort"),
            ({"sort": "created_at,up"}, "sort"),
            ({"size": "x"}, "size"),
            ({"start": "now"}, "start"),
            ({"tenant_id": "x"}, "tenant_id"),
        ):
            bad = await listed(**params)
            assert bad.status_code == 400, params
            assert bad.json()["error"]["details"]["field"] == field, params
