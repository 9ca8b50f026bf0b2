"""Malformed, oversized and flooding clients get ``error`` frames or are closed (1009, 1008), and the server lives
on for everybody else."""

import json

import pytest
from websockets.exceptions import ConnectionClosed

from tests.live.support import TENANT, Watcher, ingest, new_session, of_type, open_socket
from tests.support import make_token, serve

TOKEN = make_token("viewer-1", TENANT)


@pytest.fixture
async def small_limits(live_settings, history):
    async with serve(live_settings.replace(ws_max_message_bytes=8192, ws_rate_limit=10)) as server:
        async with server.client() as client:
            await ingest(client, history)
        yield server


async def open_watcher(server, session_id, history):
    ws = await open_socket(server.url, session_id, TOKEN)
    watcher = Watcher(ws, history)
    await watcher.state_complete()
    return watcher


async def still_serves(server, session_id, history) -> None:
    watcher = await open_watcher(server, session_id, history)
    await watcher.send(type="seek", timestamp=watcher.received[0]["range"]["start"], id="alive")
    await watcher.until(of_type("status", reply_to="alive"))
    await watcher.ws.close()


MALFORMED = [
    ("not json", "BAD_MESSAGE"),
    ("[1, 2]", "BAD_MESSAGE"),
    ('{"type": "dance"}', "UNKNOWN_TYPE"),
    ('{"type": "seek"}', "BAD_MESSAGE"),
    ('{"type": "seek", "timestamp": "yesterday"}', "BAD_MESSAGE"),
    ('{"type": "speed", "speed": "fast"}', "BAD_MESSAGE"),
    ('{"type": "stop", "extra": 1}', "BAD_MESSAGE"),
    ('{"type": "resume", "seq": -1}', "BAD_MESSAGE"),
    ('{"type": "start", "id": {"nested": true}}', "BAD_MESSAGE"),
    (json.dumps({"type": "stop", "id": "x" * 5000}), "MESSAGE_TOO_LARGE"),
]


async def test_a_malformed_message_gets_an_error_frame_and_the_connection_goes_on(small_limits, history):
    async with small_limits.client() as client:
        session_id = await new_session(client)
    watcher = await open_watcher(small_limits, session_id, history)
    for n, (raw, code) in enumerate(MALFORMED):
        await watcher.ws.send(raw)
        error = await watcher.until(of_type("error"))
        assert (error["code"], bool(error["message"])) == (code, True), raw[:60]
        await watcher.send(type="speed", speed=2, id=n)
        assert (await watcher.until(of_type("status", reply_to=n)))["speed"] == 2
    await watcher.ws.close()


async def test_a_binary_message_gets_an_error_frame(small_limits, history):
    async with small_limits.client() as client:
        session_id = await new_session(client)
    watcher = await open_watcher(small_limits, session_id, history)
    await watcher.ws.send(b'{"type": "stop"}')
    assert (await watcher.until(of_type("error")))["code"] == "BAD_MESSAGE"
    await watcher.ws.close()


async def test_a_message_over_the_size_limit_closes_with_1009(small_limits, history):
    async with small_limits.client() as client:
        session_id = await new_session(client)
    watcher = await open_watcher(small_limits, session_id, history)
    await watcher.ws.send(json.dumps({"type": "stop", "pad": "x" * 10_000}))
    with pytest.raises(ConnectionClosed) as closed:
        await watcher.until(lambda m: False)
    assert closed.value.rcvd.code == 1009
    await still_serves(small_limits, session_id, history)


async def test_a_flood_gets_rate_limited_then_closed_with_1008(small_limits, history):
    async with small_limits.client() as client:
        session_id = await new_session(client)
    watcher = await open_watcher(small_limits, session_id, history)
    for n in range(200):
        await watcher.send(type="speed", speed=1 + n % 5)
    with pytest.raises(ConnectionClosed) as closed:
        await watcher.until(lambda m: False)
    assert closed.value.rcvd.code == 1008
    assert any(m["type"] == "error" and m["code"] == "RATE_LIMITED" for m in watcher.received)
    await still_serves(small_limits, session_id, history)


async def test_a_burst_within_the_limit_is_served(small_limits, history):
    async with small_limits.client() as client:
        session_id = await new_session(client)
    watcher = await open_watcher(small_limits, session_id, history)
    for n in range(15):
        await watcher.send(type="speed", speed=1 + n, id=n)
    replies = [await watcher.until(of_type("status", reply_to=n)) for n in range(15)]
    assert [r["speed"] for r in replies] == [1 + n for n in range(15)]
    await watcher.ws.close()
