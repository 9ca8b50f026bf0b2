"""Playback over the WebSocket on one replica: frames carry exactly the reference model's events of (from, to], seq
has no gap, each from continues the previous to, the position advances at the speed, a seek sends the true state,
stop stops the frames, and a speed change takes effect."""

import asyncio
import time
from datetime import timedelta

import pytest

from tests.live.support import TENANT, Watcher, ingest, new_session, of_type, open_socket, parse_time, rfc3339
from tests.support import make_token

TOKEN = make_token("viewer-1", TENANT)


async def attached(server, history):
    async with server.client() as client:
        return await new_session(client)


def rate(frames, speed: float, since: float = 0.0) -> float:
    """History seconds per wall second over the frames received after ``since``.

    A frame arrives when it was sent plus a delay, which a busy test process stretches (it reads late): the first
    and last frames alone gave 4.4 for a speed of 5 with six workers on two cores. So the slope is taken between
    the frames that came soonest, against ``speed``, in the first and in the last third; a wrong speed still shows,
    as the slope between two real frames.
    """
    kept = [(at, parse_time(m["to"])) for at, m in frames if at >= since]
    assert len(kept) >= 3, kept
    third = len(kept) // 3
    origin = kept[0][1]

    def soonest(group: list) -> tuple:
        return min(group, key=lambda frame: frame[0] - (frame[1] - origin).total_seconds() / speed)

    (t0, p0), (t1, p1) = soonest(kept[:third]), soonest(kept[-third:])
    return (p1 - p0).total_seconds() / (t1 - t0)


async def test_hello_then_the_state_at_the_start_of_the_range(live_server, history):
    session_id = await attached(live_server, history)
    async with open_socket(live_server.url, session_id, TOKEN) as ws:
        watcher = Watcher(ws, history)
        hello = await watcher.recv()
        assert hello["type"] == "hello"
        assert hello["session_id"] == session_id
        assert hello["protocol"] == 1
        assert hello["state"] == "paused"
        # A new session starts paused at the start of the playback range: here, the earliest recorded instant.
        assert parse_time(hello["position"]) == parse_time(hello["range"]["start"]) == history.first
        await watcher.state_complete()
        assert watcher.seq >= 1
        assert watcher.position == history.first
        watcher.assert_picture_true()


async def test_frames_carry_exactly_the_events_of_their_interval_without_a_gap_in_seq(live_server, history):
    session_id = await attached(live_server, history)
    async with open_socket(live_server.url, session_id, TOKEN) as ws:
        watcher = Watcher(ws, history)
        await watcher.state_complete()
        # 20 s of history at 5x: about 40 frames of 100 ms; a late frame covers what it missed, so a busy machine
        # sends fewer, and the bound below leaves room for that.
        await watcher.send(type="start", speed=5, id="go")
        reply = await watcher.until(of_type("status", reply_to="go"))
        assert reply["state"] == "playing"
        assert reply["speed"] == 5
        await watcher.until(lambda m: m["type"] == "events" and parse_time(m["to"]) >= history.last)
        await watcher.send(type="stop")
        await watcher.until(of_type("status", state="paused"))
    # Watcher checked each frame against the model, seq, and contiguity; the picture is the state at the end.
    assert len(watcher.frames) >= 10
    assert watcher.conflated == 0
    watcher.assert_picture_true()


async def test_the_position_advances_at_the_speed(live_server, history):
    session_id = await attached(live_server, history)
    async with open_socket(live_server.url, session_id, TOKEN) as ws:
        watcher = Watcher(ws, history)
        await watcher.state_complete()
        await watcher.send(type="start", speed=5)
        started = time.monotonic()
        await watcher.until(lambda m: m["type"] == "events" and time.monotonic() - started > 1.5)
        assert rate(watcher.frames, 5, since=started + 0.3) == pytest.approx(5, rel=0.1)
        status = await watcher.until(of_type("status"))
        assert parse_time(status["position"]) >= parse_time(watcher.frames[-1][1]["to"])


async def test_a_speed_change_takes_effect_at_once(live_server, history):
    session_id = await attached(live_server, history)
    async with open_socket(live_server.url, session_id, TOKEN) as ws:
        watcher = Watcher(ws, history)
        await watcher.state_complete()
        await watcher.send(type="start", speed=2)
        await watcher.until(lambda m: m["type"] == "events" and len(watcher.frames) >= 8)
        before = rate(watcher.frames, 2)
        await watcher.send(type="speed", speed=8, id="faster")
        changed = (await watcher.until(of_type("status", reply_to="faster")))["speed"]
        switched = time.monotonic()
        await watcher.until(lambda m: m["type"] == "events" and time.monotonic() - switched > 1.2)
        after = rate(watcher.frames, 8, since=switched + 0.2)
    assert changed == 8
    assert before == pytest.approx(2, rel=0.15)
    assert after == pytest.approx(8, rel=0.1)


async def test_a_near_seek_sends_the_net_change_backward_and_forward_and_frames_continue(live_server, history):
    session_id = await attached(live_server, history)
    async with open_socket(live_server.url, session_id, TOKEN) as ws:
        watcher = Watcher(ws, history)
        await watcher.state_complete()
        await watcher.send(type="start", speed=4)
        await watcher.until(
            lambda m: m["type"] == "events" and parse_time(m["to"]) > history.first + timedelta(seconds=9)
        )
        # Back across deletes and re-creates, then forward past where playback was: one frame each, no state.
        for target in (history.first + timedelta(seconds=1, milliseconds=333), history.first + timedelta(seconds=15)):
            await watcher.send(type="seek", timestamp=rfc3339(target), id="jump")
            diff = await watcher.until(lambda m: m["type"] == "events" and m.get("seek", False))
            assert parse_time(diff["to"]) == watcher.position == target
            watcher.assert_picture_true()
        # Still playing: frames go on from the seek target, checked against the model.
        await watcher.until(lambda m: m["type"] == "events" and parse_time(m["to"]) > target + timedelta(seconds=2))
        watcher.assert_picture_true()
    assert watcher.states == 1
    assert watcher.diff_seeks == 2


async def test_a_far_seek_sends_the_true_state_and_frames_continue_from_it(start_server, live_settings, history):
    target = history.first + timedelta(seconds=7, milliseconds=333)
    async with start_server(live_settings.replace(diff_seek_within_s=1.0)) as server:
        async with server.client() as client:
            await ingest(client, history)
            session_id = await new_session(client)
        async with open_socket(server.url, session_id, TOKEN) as ws:
            watcher = Watcher(ws, history)
            await watcher.state_complete()
            await watcher.send(type="start", speed=4)
            await watcher.until(lambda m: m["type"] == "events" and len(watcher.frames) >= 3)
            await watcher.send(type="seek", timestamp=rfc3339(target), id="jump")
            state = await watcher.state_complete()
            assert parse_time(state["timestamp"]) == target
            assert watcher.position == target
            watcher.assert_picture_true()
            # Still playing: frames go on from the seek target, checked against the model.
            await watcher.until(lambda m: m["type"] == "events" and parse_time(m["to"]) > target + timedelta(seconds=2))
            watcher.assert_picture_true()
    assert watcher.diff_seeks == 0


async def test_stop_stops_the_frames(live_server, history):
    session_id = await attached(live_server, history)
    async with open_socket(live_server.url, session_id, TOKEN) as ws:
        watcher = Watcher(ws, history)
        await watcher.state_complete()
        await watcher.send(type="start", speed=3)
        await watcher.until(lambda m: m["type"] == "events" and len(watcher.frames) >= 3)
        await watcher.send(type="stop", id="halt")
        stopped = await watcher.until(of_type("status", reply_to="halt"))
        assert stopped["state"] == "paused"
        # At most the last frame up to the stop position follows; then nothing that changes the picture.
        with pytest.raises(TimeoutError):
            await watcher.until(
                lambda m: m["type"] == "events" and parse_time(m["to"]) > parse_time(stopped["position"]), timeout=1.0
            )
        assert watcher.position == parse_time(stopped["position"])
        watcher.assert_picture_true()


async def test_status_comes_about_once_a_second(live_server, history):
    session_id = await attached(live_server, history)
    async with open_socket(live_server.url, session_id, TOKEN) as ws:
        watcher = Watcher(ws, history)
        await watcher.state_complete()
        first = await watcher.until(of_type("status"), timeout=2)
        began = time.monotonic()
        second = await watcher.until(of_type("status"), timeout=2)
    assert 0.5 < time.monotonic() - began < 1.5
    assert first["state"] == second["state"] == "paused"


async def test_commands_that_the_state_refuses_get_an_error_with_the_reply_id(live_server, history):
    session_id = await attached(live_server, history)
    async with open_socket(live_server.url, session_id, TOKEN) as ws:
        watcher = Watcher(ws, history)
        await watcher.state_complete()
        await watcher.send(type="stop", id=7)
        refused = await watcher.until(of_type("error"))
        await watcher.send(type="speed", speed=5000, id=8)
        too_fast = await watcher.until(of_type("error"))
        await watcher.send(type="seek", timestamp="2001-01-01T00:00:00Z", id=9)
        too_early = await watcher.until(of_type("error"))
    assert (refused["code"], refused["reply_to"]) == ("NOT_ALLOWED", 7)
    assert (too_fast["code"], too_fast["reply_to"]) == ("INVALID_SPEED", 8)
    assert (too_early["code"], too_early["reply_to"]) == ("INVALID_TIMESTAMP", 9)


async def test_two_viewers_of_one_session_see_the_same_playback(live_server, history):
    session_id = await attached(live_server, history)
    async with (
        open_socket(live_server.url, session_id, TOKEN) as one,
        open_socket(live_server.url, session_id, TOKEN) as two,
    ):
        first, second = Watcher(one, history), Watcher(two, history)
        await asyncio.gather(first.state_complete(), second.state_complete())
        await first.send(type="start", speed=20)
        end = lambda m: m["type"] == "events" and parse_time(m["to"]) >= history.last  # noqa: E731
        await asyncio.gather(first.until(end), second.until(end))
    first.assert_picture_true()
    second.assert_picture_true()
