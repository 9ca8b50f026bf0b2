"""Reconnecting with ``resume``: the missed frames come from the viewer's bounded history, with nothing lost or
repeated; when there is no history to resume from, a fresh state comes, numbered right after the client's seq."""

import time

from tests.live.support import TENANT, Watcher, ingest, new_session, of_type, open_socket, parse_time
from tests.support import make_token, serve

TOKEN = make_token("viewer-1", TENANT)


async def play_then_drop(server, history) -> tuple[str, Watcher]:
    async with server.client() as client:
        session_id = await new_session(client)
    ws = await open_socket(server.url, session_id, TOKEN)
    watcher = Watcher(ws, history)
    await watcher.state_complete()
    await watcher.send(type="start", speed=4)
    await watcher.until(lambda m: m["type"] == "events" and len(watcher.frames) >= 5)
    # The connection drops without a close handshake; whatever was in flight is lost.
    ws.transport.abort()
    await ws.wait_closed()
    return session_id, watcher


async def test_resume_after_a_dropped_connection_loses_and_repeats_nothing(live_server, history):
    session_id, watcher = await play_then_drop(live_server, history)
    states_before, seq_before = watcher.states, watcher.seq
    async with open_socket(live_server.url, session_id, TOKEN) as ws:
        watcher.ws = ws
        await watcher.send(type="resume", seq=watcher.seq, id="back")
        assert (await watcher.recv())["type"] == "hello"
        await watcher.until(of_type("status", reply_to="back"))
        # The next frames continue the numbering and the position exactly (Watcher checks both, and each frame).
        await watcher.until(lambda m: m["type"] == "events" and parse_time(m["to"]) >= history.last)
    assert watcher.states == states_before, "the history bridged the gap: no fresh state was needed"
    assert watcher.seq > seq_before
    watcher.assert_picture_true()


async def test_resume_without_a_kept_history_gets_a_fresh_state_numbered_after_the_client_seq(live_settings, history):
    async with serve(live_settings.replace(ws_resume_grace_s=0)) as server:
        async with server.client() as client:
            await ingest(client, history)
        session_id, watcher = await play_then_drop(server, history)
        seq_before = watcher.seq
        async with open_socket(server.url, session_id, TOKEN) as ws:
            watcher.ws = ws
            await watcher.send(type="resume", seq=watcher.seq)
            state = await watcher.until(of_type("state"))
            assert state["seq"] == seq_before + 1
            if state["chunk"] != state["chunks"]:
                await watcher.state_complete()
            watcher.assert_picture_true()
            await watcher.until(lambda m: m["type"] == "events" and len(watcher.frames) >= 8)
        watcher.assert_picture_true()


async def test_resume_is_only_the_first_message(live_server, history):
    async with live_server.client() as client:
        session_id = await new_session(client)
    async with open_socket(live_server.url, session_id, TOKEN) as ws:
        watcher = Watcher(ws, history)
        await watcher.state_complete()
        await watcher.send(type="resume", seq=1, id=3)
        refused = await watcher.until(of_type("error"))
    assert (refused["code"], refused["reply_to"]) == ("NOT_ALLOWED", 3)


async def test_a_resume_sent_in_time_counts_even_when_the_busy_loop_runs_the_wait_late(live_server, history):
    # A reconnect storm keeps the server's event loop busy: its resume-wait timer fires late, in the same turn as the
    # read of a resume that arrived in time. Blocking the loop (server and client share it here) makes that turn.
    session_id, watcher = await play_then_drop(live_server, history)
    states_before = watcher.states
    async with open_socket(live_server.url, session_id, TOKEN) as ws:
        watcher.ws = ws
        assert (await watcher.recv())["type"] == "hello"  # the server's wait has begun
        await watcher.send(type="resume", seq=watcher.seq)
        time.sleep(3 * live_server.settings.ws_resume_wait_ms / 1000)
        await watcher.until(lambda m: m["type"] == "events" and len(watcher.frames) >= 8)
    assert watcher.states == states_before, "the resume was taken: no fresh state numbered 1"
