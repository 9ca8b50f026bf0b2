"""Record and replay (seed 001) end to end: one live replay per tenant, started at a speed over REST and watched
over the WebSocket by the tenant's users, stopped, played to its end, ended, reset by an admin; bodies validated;
every control action is in the session's activity log."""

import asyncio
import uuid
from datetime import timedelta

import asyncpg
import pytest
from websockets.exceptions import ConnectionClosed

from tests.live.support import OTHER_TENANT, TENANT, Watcher, of_type, open_socket, parse_time, rfc3339
from tests.support import bearer, make_token

USER = bearer(make_token("operator-1", TENANT))
ADMIN = bearer(make_token("boss", TENANT, admin=True))
FIELDS = {"id", "status", "display_status", "replay_start_timestamp", "replay_end_timestamp", "replay_last_timestamp"}


def window(history, seconds: float = 10.0) -> dict:
    start = history.first + timedelta(seconds=2)
    return {
        "replay_requested_timestamp": rfc3339(start),
        "replay_end_timestamp": rfc3339(start + timedelta(seconds=seconds)),
        "tenant_id": str(TENANT),
    }


async def init(client, history, headers=USER, **changes) -> dict:
    response = await client.post("/v1/replay/init", json={**window(history), **changes}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def test_init_answers_the_replay_and_it_is_the_current_session(live_server, history):
    async with live_server.client() as client:
        replay = await init(client, history)
        current = await client.get("/v1/replay/current-session", headers=USER)
    assert set(replay) >= FIELDS
    assert replay["status"] == "INITIALIZED"
    assert (
        replay["replay_start_timestamp"]
        == replay["replay_last_timestamp"]
        == window(history)["replay_requested_timestamp"]
    )
    assert current.status_code == 200
    body = current.json()
    assert body["sent_at"].endswith("Z")
    assert body["data"]["id"] == replay["id"]
    assert set(body["data"]) >= FIELDS


async def test_one_live_replay_per_tenant(live_server, history):
    async with live_server.client() as client:
        await init(client, history)
        again = await client.post("/v1/replay/init", json=window(history), headers=USER)
        other_tenant = await client.post(
            "/v1/replay/init",
            json={**window(history), "tenant_id": str(OTHER_TENANT)},
            headers=bearer(make_token("someone", OTHER_TENANT)),
        )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "REPLAY_IN_PROGRESS"
    # Another tenant has no data there, so the window is out of its range; the point is it is not a 409.
    assert other_tenant.status_code != 409


INVALID_INITS = [
    ({"replay_end_timestamp": "2000-01-01T00:00:00Z"}, 400, "VALIDATION_ERROR"),
    ({"replay_requested_timestamp": "not a time"}, 400, "VALIDATION_ERROR"),
    ({"replay_requested_timestamp": None}, 400, "VALIDATION_ERROR"),
    (
        {"replay_requested_timestamp": "2001-01-01T00:00:00Z", "replay_end_timestamp": "2001-01-01T01:00:00Z"},
        400,
        "TIMESTAMP_OUT_OF_RANGE",
    ),
    (
        {"replay_requested_timestamp": "2099-01-01T00:00:00Z", "replay_end_timestamp": "2099-01-01T01:00:00Z"},
        400,
        "TIMESTAMP_OUT_OF_RANGE",
    ),
    # Longer than max_playback_range (30 days): the window is judged before its ends.
    ({"replay_requested_timestamp": "2001-01-01T00:00:00Z"}, 400, "INVALID_PLAYBACK_WINDOW"),
    ({"replay_end_timestamp": "2099-01-01T00:00:00Z"}, 400, "INVALID_PLAYBACK_WINDOW"),
    ({"tenant_id": "not-a-uuid"}, 400, "VALIDATION_ERROR"),
    ({"tenant_id": str(OTHER_TENANT)}, 403, "FORBIDDEN"),
]


async def test_init_validates_its_body(live_server, history):
    async with live_server.client() as client:
        for changes, status, code in INVALID_INITS:
            response = await client.post("/v1/replay/init", json={**window(history), **changes}, headers=USER)
            assert (response.status_code, response.json()["error"]["code"]) == (status, code), changes
        empty = await client.post("/v1/replay/init", headers=USER)
        assert empty.status_code == 400


async def test_start_refuses_a_speed_outside_0_to_1000(live_server, history):
    async with live_server.client() as client:
        replay = await init(client, history)
        for speed in [0, -1, 0.01, 1000.5, "fast", None, True]:
            response = await client.put(f"/v1/replay/{replay['id']}/start", json={"replay_speed": speed}, headers=USER)
            assert (response.status_code, response.json()["error"]["code"]) == (400, "VALIDATION_ERROR"), speed
        missing = await client.put(f"/v1/replay/{replay['id']}/start", json={}, headers=USER)
        assert missing.status_code == 400
        fastest = await client.put(f"/v1/replay/{replay['id']}/start", json={"replay_speed": 1000}, headers=USER)
        assert fastest.status_code == 200


async def test_another_tenants_replay_is_not_found_even_by_its_admins_and_a_mismatched_body_forbidden(
    live_server, history
):
    strangers = [bearer(make_token("stranger", OTHER_TENANT)), bearer(make_token("boss", OTHER_TENANT, admin=True))]
    async with live_server.client() as client:
        replay = await init(client, history)
        responses = [
            answer
            for stranger in strangers
            for answer in [
                await client.put(f"/v1/replay/{replay['id']}/start", json={"replay_speed": 2}, headers=stranger),
                await client.put(f"/v1/replay/{replay['id']}/stop", headers=stranger),
                await client.put(f"/v1/replay/{replay['id']}/end", json={}, headers=stranger),
            ]
        ]
        still = await client.get("/v1/replay/current-session", headers=USER)
        unknown = await client.put(f"/v1/replay/{uuid.uuid4()}/stop", headers=USER)
        mismatch = await client.put(
            f"/v1/replay/{replay['id']}/end", json={"tenant_id": str(OTHER_TENANT)}, headers=USER
        )
    assert [r.status_code for r in responses] == [404] * 6
    assert {r.json()["error"]["code"] for r in responses} == {"NOT_FOUND"}
    assert still.json()["data"]["status"] == "INITIALIZED", "nothing a stranger sent changed the replay"
    assert unknown.status_code == 404
    assert mismatch.status_code == 403


async def test_viewers_watch_the_replay_play_to_its_end_and_are_closed_when_it_ends(live_server, history):
    async with live_server.client() as client:
        replay = await init(client, history)
        replay_id = replay["id"]
        one = await open_socket(live_server.url, replay_id, make_token("operator-1", TENANT))
        two = await open_socket(live_server.url, replay_id, make_token("operator-2", TENANT))
        first, second = Watcher(one, history), Watcher(two, history)
        hello = await first.recv()
        assert hello["range"] == {"start": replay["replay_start_timestamp"], "end": replay["replay_end_timestamp"]}
        await asyncio.gather(first.state_complete(), second.state_complete())
        started = await client.put(f"/v1/replay/{replay_id}/start", json={"replay_speed": 20}, headers=USER)
        assert started.status_code == 200
        assert started.json()["data"]["status"] == "PLAYING"
        await asyncio.gather(first.until(of_type("ended")), second.until(of_type("ended")))
        end = parse_time(replay["replay_end_timestamp"])
        assert first.position == second.position == end
        first.assert_picture_true()
        second.assert_picture_true()
        completed = (await client.get("/v1/replay/current-session", headers=USER)).json()["data"]
        assert completed["status"] == "COMPLETED"
        assert completed["replay_last_timestamp"] == replay["replay_end_timestamp"]
        ended = await client.put(f"/v1/replay/{replay_id}/end", json={"tenant_id": str(TENANT)}, headers=USER)
        assert ended.status_code == 200
        assert ended.json()["data"]["status"] == "ENDED"
        for watcher in (first, second):
            error = await watcher.until(of_type("error"))
            assert error["code"] == "SESSION_INACTIVE"
            with pytest.raises(ConnectionClosed) as closed:
                await watcher.until(lambda m: False)
            assert closed.value.rcvd.code == 4409
        assert (await client.get("/v1/replay/current-session", headers=USER)).status_code == 404
        # The tenant may start a new replay now.
        await init(client, history)


async def test_stop_pauses_the_replay_for_every_viewer(live_server, history):
    async with live_server.client() as client:
        replay = await init(client, history, **window(history, seconds=60))
        ws = await open_socket(live_server.url, replay["id"], make_token("operator-2", TENANT))
        watcher = Watcher(ws, history)
        await watcher.state_complete()
        await client.put(f"/v1/replay/{replay['id']}/start", json={"replay_speed": 2}, headers=USER)
        await watcher.until(lambda m: m["type"] == "events" and len(watcher.frames) >= 3)
        stopped = await client.put(f"/v1/replay/{replay['id']}/stop", headers=USER)
        again = await client.put(f"/v1/replay/{replay['id']}/stop", headers=USER)
        await watcher.until(of_type("status", state="paused"))
        current = (await client.get("/v1/replay/current-session", headers=USER)).json()["data"]
        await ws.close()
    assert stopped.status_code == again.status_code == 200
    assert stopped.json()["data"]["status"] == "PAUSED"
    assert current["status"] == "PAUSED"
    assert parse_time(current["replay_last_timestamp"]) > parse_time(replay["replay_start_timestamp"])
    watcher.assert_picture_true()


async def test_a_replay_played_to_its_end_plays_again_when_started(live_server, history):
    async with live_server.client() as client:
        replay = await init(client, history, **window(history, seconds=2))
        await client.put(f"/v1/replay/{replay['id']}/start", json={"replay_speed": 50}, headers=USER)
        deadline = asyncio.get_running_loop().time() + 10
        while (await client.get("/v1/replay/current-session", headers=USER)).json()["data"]["status"] != "COMPLETED":
            assert asyncio.get_running_loop().time() < deadline, "the replay never completed"
            await asyncio.sleep(0.05)
        restarted = await client.put(f"/v1/replay/{replay['id']}/start", json={"replay_speed": 1}, headers=USER)
    assert restarted.json()["data"]["status"] == "PLAYING"
    assert parse_time(restarted.json()["data"]["replay_last_timestamp"]) < parse_time(replay["replay_end_timestamp"])


async def test_reset_is_for_admins_and_force_ends_the_current_replay(live_server, history):
    async with live_server.client() as client:
        replay = await init(client, history)
        await client.put(f"/v1/replay/{replay['id']}/start", json={"replay_speed": 1}, headers=USER)
        as_user = await client.post("/v1/replay/reset", headers=USER)
        as_admin = await client.post("/v1/replay/reset", headers=ADMIN)
        nothing_left = await client.post("/v1/replay/reset", headers=ADMIN)
        current = await client.get("/v1/replay/current-session", headers=USER)
    assert as_user.status_code == 403
    assert as_admin.status_code == 200
    assert as_admin.json()["data"]["id"] == replay["id"]
    assert as_admin.json()["data"]["status"] == "ENDED"
    assert nothing_left.status_code == 404
    assert current.status_code == 404


async def test_control_actions_are_in_the_activity_log(live_server, history, database_url):
    async with live_server.client() as client:
        replay = await init(client, history, **window(history, seconds=60))
        async with open_socket(live_server.url, replay["id"], make_token("operator-2", TENANT)) as ws:
            watcher = Watcher(ws, history)
            await watcher.state_complete()
            await client.put(f"/v1/replay/{replay['id']}/start", json={"replay_speed": 2}, headers=USER)
            await client.put(f"/v1/replay/{replay['id']}/start", json={"replay_speed": 4}, headers=USER)
            await watcher.send(type="seek", timestamp=replay["replay_start_timestamp"], id="s")
            await watcher.until(of_type("status", reply_to="s"))
            await client.put(f"/v1/replay/{replay['id']}/stop", headers=USER)
        await client.post("/v1/replay/reset", headers=ADMIN)
    expected = [
        "created",
        "viewer_attached",
        "started",
        "speed_changed",
        "seeked",
        "stopped",
        "viewer_detached",
        "reset",
        "terminated",
    ]
    conn = await asyncpg.connect(database_url)
    try:
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            rows = await conn.fetch(
                "SELECT action, actor_id FROM session_activity WHERE session_id = $1 ORDER BY at, id",
                uuid.UUID(replay["id"]),
            )
            if [r["action"] for r in rows] == expected or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    assert [r["action"] for r in rows] == expected
    actors = {r["action"]: r["actor_id"] for r in rows}
    assert actors["started"] == "operator-1"
    assert actors["seeked"] == "operator-2"
    assert actors["reset"] == "boss"
