"""Slow clients get no more than their share: a slowloris client (a request head or body sent a byte at a time) is
cut after ``MSR_HTTP_HEADER_TIMEOUT_S`` (head) or ``MSR_HTTP_BODY_TIMEOUT_S`` (body) while others are served, and a
client that never reads (a viewer, or the reader of a streamed answer) is cut after ``MSR_SEND_TIMEOUT_S`` of full
buffers: the viewer beside it gets every frame, and a streamed answer's database connection goes back to the pool."""

import asyncio
import contextlib
import socket
import time
import uuid

import asyncpg

from app.live.registry import LiveRegistry
from tests.live.support import (
    TENANT,
    Watcher,
    ingest,
    make_history,
    new_session,
    open_socket,
    recent_start,
    rfc3339,
)
from tests.support import RunningServer, make_token, serve

SLOWLORIS = 50
TIMEOUT_S = 1.0
TOKEN = make_token("viewer-1", TENANT)


def registry_of(server: RunningServer) -> LiveRegistry:
    registry = server.server.config.app.state.services.playback
    assert isinstance(registry, LiveRegistry)
    return registry


def _slow_request(kind: str, port: int) -> bytes:
    """A request that never ends in time: its head, or its body (with a token, or without one: answered at once)."""
    if kind == "head":
        return b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    token = f"Authorization: Bearer {TOKEN}\r\n" if kind == "body" else ""
    head = (
        f"POST /v1/ingest/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{token}Content-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n"
    )
    return head.encode() + b"[" + b" " * 99_999


async def _trickle(port: int, kind: str, cut: list[str]) -> None:
    """A request sent a byte every 100 ms (the body's head at once), for longer than the server allows."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = _slow_request(kind, port)
    start = 0 if kind == "head" else request.index(b"\r\n\r\n") + 4
    try:
        if start:
            writer.write(request[:start])
        for byte in request[start:]:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.1)
            if reader.at_eof():
                break
        # Cut: the server closed or reset the connection (after its answer, if any), so reading ends at once.
        answer = await asyncio.wait_for(reader.read(), 2)
        assert kind != "head" or answer == b"", answer[:100]
        cut.append(kind)
    except (ConnectionResetError, BrokenPipeError):
        cut.append(kind)
    finally:
        writer.close()


async def test_slowloris_connections_are_cut_while_other_requests_are_served(settings):
    async with serve(settings.replace(http_header_timeout_s=TIMEOUT_S, http_body_timeout_s=TIMEOUT_S)) as server:
        port = int(server.url.rsplit(":", 1)[1])
        cut: list[str] = []
        started = time.monotonic()
        kinds = ("head", "body", "body-after-answer")
        trickles = [asyncio.create_task(_trickle(port, kinds[n % 3], cut)) for n in range(SLOWLORIS)]
        await asyncio.sleep(0.3)
        served = 0
        async with server.client() as client:
            while not all(task.done() for task in trickles):
                assert (await client.get("/health")).status_code == 200
                served += 1
                await asyncio.sleep(0.1)
                assert time.monotonic() - started < 30, f"{len(cut)} of {SLOWLORIS} slowloris clients cut"
        await asyncio.gather(*trickles)
    print(
        f"\n{SLOWLORIS} slowloris clients (heads and bodies) all cut within {time.monotonic() - started:.1f} s; "
        f"{served} requests served"
    )
    assert len(cut) == SLOWLORIS
    assert served > 0


async def _never_reading_socket(port: int, request: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client that sends ``request`` and then reads nothing (until told), with a small receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 30)
    writer.transport.pause_reading()
    writer.write(request.encode())
    await writer.drain()
    return reader, writer


def _borrowed(server: RunningServer) -> int:
    """Connections of the server's pool lent out now."""
    pool = server.server.config.app.state.services.db.pool
    return int(pool.get_size() - pool.get_idle_size())


async def test_a_client_that_never_reads_a_streamed_answer_is_cut_and_its_connection_released(settings):
    # Over 4,000 events (about 700 kB): more than one chunk of the cursor, and far more than the socket buffers on
    # both sides hold (the server's made small too), so the stream stalls with its cursor open.
    history = make_history(recent_start(), entities=100, step_ms=10)
    async with serve(settings.replace(send_timeout_s=TIMEOUT_S)) as server:
        async with server.client() as client:
            await ingest(client, history)
            session_id = await new_session(client)
        for listening in server.server.servers[0].sockets:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        port = int(server.url.rsplit(":", 1)[1])
        query = f"start={rfc3339(history.first)}&end={rfc3339(history.last)}"
        watcher = await asyncpg.connect(settings.database_url)
        open_transactions = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'"
        )
        reader, writer = await _never_reading_socket(
            port,
            f"GET /replay/events?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Session-ID: {session_id}\r\n"
            f"Authorization: Bearer {TOKEN}\r\n\r\n",
        )
        deadline = time.monotonic() + 20
        # The answer stalls with its cursor open, in a transaction on a pooled connection ...
        while await watcher.fetchval(open_transactions) == 0:
            assert time.monotonic() < deadline, "the streamed answer never stalled on its cursor"
            await asyncio.sleep(0.05)
        # ... until the connection is cut: then the stream ends, and the pool gets its connection back.
        while await watcher.fetchval(open_transactions) > 0 or _borrowed(server) > 0:
            assert time.monotonic() < deadline, "the stalled answer kept its database connection"
            await asyncio.sleep(0.05)
        await watcher.close()
        # Cut, not finished: the client reads what reached its buffers, then the end, without the answer's tail.
        writer.transport.resume_reading()
        received = b""
        with contextlib.suppress(ConnectionResetError):
            received = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    print(
        f"\n{len(history.events)} events streamed to a client that never read: cut after {len(received)} bytes, "
        "its database connection released"
    )
    assert received.startswith(b"HTTP/1.1 200 ") or received == b""
    assert b'"sent_at"' not in received


async def _never_reading_viewer(port: int, session_id: str) -> asyncio.StreamWriter:
    """A WebSocket client that completes the handshake and then reads nothing, with a small receive buffer."""
    _, writer = await _never_reading_socket(
        port,
        f"GET /ws/replay/{session_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {TOKEN}\r\n\r\n",
    )
    return writer


async def test_a_viewer_that_never_reads_is_cut_and_the_others_get_every_frame(live_settings):
    # Big states, so that the stuck viewer's buffers fill at once.
    history = make_history(recent_start(), entities=200, padding=4000)
    async with serve(live_settings.replace(send_timeout_s=TIMEOUT_S)) as server:
        async with server.client() as client:
            await ingest(client, history)
            session_id = await new_session(client)
        registry = registry_of(server)
        port = int(server.url.rsplit(":", 1)[1])
        async with open_socket(server.url, session_id, TOKEN) as ws:
            watcher = Watcher(ws, history)
            await watcher.state_complete()
            await watcher.send(type="start", speed=1)
            stuck = await _never_reading_viewer(port, session_id)
            live = registry.live(uuid.UUID(session_id))
            assert live is not None
            deadline = time.monotonic() + 20
            while len(live.viewers) < 2:
                assert time.monotonic() < deadline, "the stuck viewer never attached"
                await watcher.recv()
            frames_before = len(watcher.frames)
            # The stuck viewer is cut (parked for a resume, no longer served) while the other plays on.
            while len(live.viewers) > 1:
                assert time.monotonic() < deadline, "the viewer that never reads was not cut"
                await watcher.recv()
            parked = len(live.parked)
            await watcher.until(lambda m: m["type"] == "events" and len(watcher.frames) >= frames_before + 10)
            stuck.close()
    print(f"\nthe viewer that never read was cut; the other got {len(watcher.frames)} frames, none conflated")
    assert parked == 1
    assert watcher.conflated == 0
    watcher.assert_picture_true()
