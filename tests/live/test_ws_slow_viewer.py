"""A viewer that stops reading does not delay another viewer's frames; its own pending frames are conflated per
entity or replaced by a fresh state, within bounds, and it still ends with the true picture."""

import itertools
import socket
import time

from websockets.asyncio.client import connect

from tests.live.support import (
    TENANT,
    Watcher,
    ingest,
    make_history,
    new_session,
    open_socket,
    parse_time,
    recent_start,
    ws_url,
)
from tests.support import make_token, serve

TOKEN = make_token("viewer-1", TENANT)


async def test_a_viewer_that_stops_reading_does_not_delay_another(live_settings):
    # About 12 MB of frames of about 400 KB each: far more than the stalled viewer's socket buffers hold.
    history = make_history(recent_start(), entities=40, seconds=30, step_ms=10, padding=2000)
    # Five frames of room before conflation, not the default's two and a half: a test client decoding 400 KB
    # frames on a busy machine can fall that far behind. The stalled viewer's kernel buffers hold under 5 MB.
    settings = live_settings.replace(viewer_queue_bytes=2 << 20)
    async with serve(settings) as server:
        async with server.client() as client:
            await ingest(client, history)
            session_id = await new_session(client)
        # The slow viewer's socket has a fixed receive buffer and a client queue of one message.
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        raw.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
        async with (
            connect(
                ws_url(server.url, session_id),
                sock=raw,
                additional_headers={"Authorization": f"Bearer {TOKEN}"},
                max_queue=1,
                max_size=None,
                compression=None,
            ) as slow_ws,
            open_socket(server.url, session_id, TOKEN, max_size=None) as fast_ws,
        ):
            slow, fast = Watcher(slow_ws, history), Watcher(fast_ws, history)
            await fast.state_complete()
            await slow.state_complete()
            await fast.send(type="start", speed=10)
            started = time.monotonic()
            # The slow viewer reads nothing from here on, while the fast one plays to the end.
            await fast.until(lambda m: m["type"] == "events" and parse_time(m["to"]) >= history.last, timeout=30)
            took = time.monotonic() - started
            arrivals = [at for at, _ in fast.frames]
            longest_gap = max(b - a for a, b in itertools.pairwise(arrivals))
            assert fast.conflated == 0
            fast.assert_picture_true()
            # 30 s of history at 10x is 3 s; the fast viewer was never held up by the stalled one (a frame is due
            # every 0.1 s; the bounds leave room for a busy machine, not for a wait on the stalled socket).
            assert took < 6.0
            assert longest_gap < 1.0
            # The slow viewer catches up: conflated frames or a fresh state, and the true picture at the end.
            await slow.until(lambda m: m["type"] == "events" and parse_time(m["to"]) >= history.last, timeout=30)
            assert slow.conflated + slow.states > 1
            slow.assert_picture_true()
