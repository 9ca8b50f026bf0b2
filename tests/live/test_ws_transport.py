"""Step, loop and until over real WebSockets: the viewers' pictures (checked against the reference model by the
Watcher) follow each command, through the owner and through a replica that does not own the session."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.live.support import TENANT, History, Watcher, ingest, new_session, of_type, open_socket, parse_time, rfc3339
from tests.support import make_token

TOKEN = make_token("viewer-1", TENANT)
FRAME_S = 0.1  # the default MSR_FRAME_INTERVAL_MS


async def _watch(ws: Any, history: History) -> Watcher:
    watcher = Watcher(ws, history)
    await watcher.state_complete()
    return watcher


async def _reach(watcher: Watcher, instant: datetime) -> None:
    """Until the watcher's frames end at ``instant`` (the frame may have come before the command's reply)."""
    if watcher.position != instant:
        await watcher.until(lambda m: m["type"] == "events" and parse_time(m["to"]) == instant)


async def test_step_pauses_and_moves_one_frame_of_event_time_or_to_the_next_event(live_server, history):
    async with live_server.client() as client:
        session_id = await new_session(client)
    async with open_socket(live_server.url, session_id, TOKEN) as ws:
        watcher = await _watch(ws, history)
        await watcher.send(type="start", speed=4)
        await watcher.until(
            lambda m: m["type"] == "events" and parse_time(m["to"]) > history.first + timedelta(seconds=3)
        )
        await watcher.send(type="step", direction="forward", id="s1")
        reply = await watcher.until(of_type("status", reply_to="s1"))
        assert reply["state"] == "paused"
        stepped = parse_time(reply["position"])
        await _reach(watcher, stepped)
        watcher.assert_picture_true()
        # Back at speed 4: 0.4 s of event time, exactly.
        await watcher.send(type="step", direction="back", id="s2")
        back = parse_time((await watcher.until(of_type("status", reply_to="s2")))["position"])
        assert back == stepped - timedelta(seconds=FRAME_S * 4)
        await _reach(watcher, back)
        watcher.assert_picture_true()
        # By event: the instant of the next recorded event after the position.
        await watcher.send(type="step", by="event", id="s3")
        next_event = parse_time((await watcher.until(of_type("status", reply_to="s3")))["position"])
        assert next_event == min(e.ts for e in history.events if e.ts > back)
        await _reach(watcher, next_event)
        watcher.assert_picture_true()
        await watcher.send(type="step", direction="back", by="event", id="s4")
        previous = parse_time((await watcher.until(of_type("status", reply_to="s4")))["position"])
        assert previous == max(e.ts for e in history.events if e.ts < next_event)
        # At the start of the range, a step back stays there.
        await watcher.send(type="seek", timestamp=rfc3339(history.first))
        await watcher.send(type="step", direction="back", id="s5")
        assert parse_time((await watcher.until(of_type("status", reply_to="s5")))["position"]) == history.first


async def test_until_pauses_exactly_there_and_a_bad_one_is_refused(live_server, history):
    at = history.first + timedelta(seconds=2, milliseconds=345)
    async with live_server.client() as client:
        session_id = await new_session(client)
    async with open_socket(live_server.url, session_id, TOKEN) as ws:
        watcher = await _watch(ws, history)
        await watcher.send(type="until", at=rfc3339(history.first), id="behind")
        refused = await watcher.until(of_type("error", reply_to="behind"))
        assert refused["code"] == "INVALID_TIMESTAMP"
        await watcher.send(type="until", at=rfc3339(at), id="u")
        assert (await watcher.until(of_type("status", reply_to="u")))["until"] == rfc3339(at)
        await watcher.send(type="start", speed=5, id="go")
        await watcher.until(of_type("status", reply_to="go"))
        paused = await watcher.until(of_type("status", state="paused"))
        assert parse_time(paused["position"]) == at
        assert "until" not in paused
        # The last frame ends exactly at the until (status bypasses the frames: the frame may come after it).
        await _reach(watcher, at)
        with pytest.raises(TimeoutError):
            await watcher.until(of_type("events"), 0.5)
        watcher.assert_picture_true()


async def test_a_loop_wraps_to_its_start_and_never_shows_events_outside_it(live_server, history):
    low, high = history.first + timedelta(seconds=2), history.first + timedelta(seconds=3)
    async with live_server.client() as client:
        session_id = await new_session(client)
    async with open_socket(live_server.url, session_id, TOKEN) as ws:
        watcher = await _watch(ws, history)
        await watcher.send(type="loop", to=rfc3339(high))
        refused = await watcher.until(of_type("error"))
        assert refused["code"] == "BAD_MESSAGE"
        assert "both `from` and `to`" in refused["message"]
        await watcher.send(type="loop", **{"from": rfc3339(low), "to": rfc3339(high)}, id="l")
        reply = await watcher.until(of_type("status", reply_to="l"))
        assert reply["loop"] == {"from": rfc3339(low), "to": rfc3339(high)}
        await watcher.send(type="seek", timestamp=rfc3339(low))
        await watcher.send(type="start", speed=4)
        wrapped = 0
        for _ in range(2):
            # Playback reaches the loop's end, then goes back to its start with the state (a diff) there.
            await watcher.until(lambda m: m["type"] == "events" and not m.get("seek") and parse_time(m["to"]) == high)
            await watcher.until(lambda m: m["type"] == "events" and m.get("seek") and parse_time(m["to"]) == low)
            watcher.assert_picture_true()
            wrapped += 1
        for _, frame in watcher.frames:
            assert low <= parse_time(frame["from"]) < parse_time(frame["to"]) <= high
        await watcher.send(type="loop", id="off")
        assert "loop" not in await watcher.until(of_type("status", reply_to="off"))
        await watcher.until(lambda m: m["type"] == "events" and parse_time(m["to"]) > high)
        watcher.assert_picture_true()
    assert wrapped == 2


async def test_step_loop_and_until_through_a_replica_that_does_not_own_the_session(
    live_settings, history, start_server
):
    async with start_server(live_settings) as owner, start_server(live_settings) as other:
        async with owner.client() as client:
            await ingest(client, history)
            session_id = await new_session(client)
        # The first viewer loads the session on its replica, which then owns it.
        async with open_socket(owner.url, session_id, TOKEN) as owner_ws:
            on_owner = await _watch(owner_ws, history)
            async with open_socket(other.url, session_id, TOKEN) as ws:
                watcher = await _watch(ws, history)
                low, high = history.first + timedelta(seconds=1), history.first + timedelta(seconds=2)
                await watcher.send(type="loop", **{"from": rfc3339(low), "to": rfc3339(high)}, id="l")
                assert (await watcher.until(of_type("status", reply_to="l")))["loop"]["to"] == rfc3339(high)
                await watcher.send(type="until", at=rfc3339(history.first), id="bad")
                assert (await watcher.until(of_type("error", reply_to="bad")))["code"] == "INVALID_TIMESTAMP"
                await watcher.send(type="step", id="s")
                stepped = parse_time((await watcher.until(of_type("status", reply_to="s")))["position"])
                assert stepped == history.first + timedelta(seconds=FRAME_S)
                for viewer in (watcher, on_owner):
                    await _reach(viewer, stepped)
                    viewer.assert_picture_true()
                # The owner's viewer sees the loop the other replica set.
                await on_owner.send(type="start", id="go")
                assert (await on_owner.until(of_type("status", reply_to="go")))["loop"]["from"] == rfc3339(low)


async def test_the_shared_replay_steps_loops_and_pauses_over_rest(live_server, history):
    start = history.first + timedelta(seconds=2)
    window = {
        "replay_requested_timestamp": rfc3339(start),
        "replay_end_timestamp": rfc3339(start + timedelta(seconds=9)),
    }
    user = {"Authorization": f"Bearer {TOKEN}"}
    async with live_server.client() as client:
        created = await client.post("/v1/replay/init", json=window, headers=user)
        url = f"/v1/replay/{created.json()['data']['id']}"
        async with open_socket(live_server.url, created.json()["data"]["id"], TOKEN) as ws:
            watcher = await _watch(ws, history)
            refusals = [
                await client.put(f"{url}/loop", json={"from": rfc3339(start)}, headers=user),
                await client.put(f"{url}/step", json={"by": "hour"}, headers=user),
                await client.put(
                    f"{url}/loop", json={"from": rfc3339(history.first), "to": rfc3339(start)}, headers=user
                ),
                await client.put(f"{url}/until", json={"at": rfc3339(start)}, headers=user),
            ]
            assert [(r.status_code, r.json()["error"]["code"]) for r in refusals] == [
                (400, "VALIDATION_ERROR"),
                (400, "VALIDATION_ERROR"),
                (400, "TIMESTAMP_OUT_OF_RANGE"),
                (400, "TIMESTAMP_OUT_OF_RANGE"),
            ]
            low, high = start + timedelta(seconds=1), start + timedelta(seconds=2)
            looped = await client.put(f"{url}/loop", json={"from": rfc3339(low), "to": rfc3339(high)}, headers=user)
            assert looped.json()["data"]["replay_loop"] == {"from": rfc3339(low), "to": rfc3339(high)}
            paused_at = start + timedelta(seconds=1, milliseconds=500)
            until = await client.put(f"{url}/until", json={"at": rfc3339(paused_at)}, headers=user)
            assert until.json()["data"]["replay_until"] == rfc3339(paused_at)
            stepped = await client.put(f"{url}/step", headers=user)
            assert stepped.status_code == 200
            assert parse_time(stepped.json()["data"]["replay_last_timestamp"]) == start + timedelta(seconds=FRAME_S)
            await _reach(watcher, start + timedelta(seconds=FRAME_S))
            watcher.assert_picture_true()
            await client.put(f"{url}/start", json={"replay_speed": 4}, headers=user)
            await watcher.until(of_type("status", state="paused"))
            await _reach(watcher, paused_at)
            watcher.assert_picture_true()
            cleared = await client.put(f"{url}/loop", json={}, headers=user)
            assert "replay_loop" not in cleared.json()["data"]


async def test_a_loop_and_an_until_survive_a_change_of_owner(live_settings, history, start_server):
    low, high = history.first + timedelta(seconds=1), history.first + timedelta(seconds=3)
    at = history.first + timedelta(seconds=2)
    async with start_server(live_settings) as other:
        async with start_server(live_settings) as owner:
            async with owner.client() as client:
                await ingest(client, history)
                session_id = await new_session(client)
            async with open_socket(owner.url, session_id, TOKEN) as owner_ws:
                await _watch(owner_ws, history)
                ws = await open_socket(other.url, session_id, TOKEN)
                watcher = await _watch(ws, history)
                await watcher.send(type="loop", **{"from": rfc3339(low), "to": rfc3339(high)}, id="l")
                await watcher.send(type="until", at=rfc3339(at), id="u")
                await watcher.until(of_type("status", reply_to="u"))
        # The owner shut down (its lease given back): the next command makes this replica the owner.
        async with ws:
            await watcher.send(type="start", speed=4, id="go")
            reply = await watcher.until(of_type("status", reply_to="go"), 15)
            assert reply["loop"] == {"from": rfc3339(low), "to": rfc3339(high)}
            assert reply["until"] == rfc3339(at)
            await watcher.until(of_type("status", state="paused"))
            await _reach(watcher, at)
            watcher.assert_picture_true()
