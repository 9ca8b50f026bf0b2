"""Skipping quiet time over a real WebSocket: a history with a ten-minute hole, the rollup refreshed over it, and a
viewer whose picture (checked against the reference model by the Watcher) jumps the hole in one empty frame."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.settings import Settings
from store.pool import Database, PoolConfig
from store.rollup import refresh_rollup
from tests.live.support import TENANT, Ev, History, Watcher, ingest, new_session, of_type, open_socket, parse_time
from tests.support import make_token, serve

TOKEN = make_token("viewer-1", TENANT)
HOLE = timedelta(minutes=10)


def holed_history(start: datetime) -> History:
    """Two seconds of updates, ten quiet minutes, two more seconds."""
    events = [Ev("public.vehicles", f"v{n}", "c", start, {"n": n}) for n in range(3)]
    for burst in (start, start + timedelta(seconds=2) + HOLE):
        for step in range(1, 11):
            ts = burst + timedelta(milliseconds=200 * step)
            events.append(Ev("public.vehicles", f"v{step % 3}", "u", ts, {"step": step, "burst": str(burst)}))
    return History(events)


async def test_start_with_skip_gaps_jumps_a_quiet_stretch_in_one_empty_frame_and_refuses_a_bad_threshold(
    live_settings: Settings,
):
    history = holed_history((datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0))
    quiet_from = max(e.ts for e in history.events if e.ts < history.first + HOLE)
    quiet_to = min(e.ts for e in history.events if e.ts > quiet_from)
    async with serve(live_settings) as server:
        async with server.client() as client:
            await ingest(client, history)
            session_id = await new_session(client)
        db = Database(PoolConfig(dsn=live_settings.database_url, min_size=1, max_size=2))
        await db.open()
        try:
            await refresh_rollup(db, datetime.now(UTC), timedelta(0))
        finally:
            await db.close()
        async with open_socket(server.url, session_id, TOKEN) as ws:
            watcher = Watcher(ws, history)
            await watcher.state_complete()
            for bad in (0, -5, "60", 10**9):
                # An undecodable message has no id to echo.
                await watcher.send(type="start", skip_gaps={"min_s": bad})
                refused = await watcher.until(of_type("error"))
                assert refused["code"] == "BAD_MESSAGE"
                assert "min_s" in refused["message"]
            await watcher.send(type="start", speed=2, skip_gaps={"min_s": 60}, id="go")
            reply = await watcher.until(of_type("status", reply_to="go"))
            assert (reply["state"], reply["skip_gaps"]) == ("playing", {"min_s": 60.0})
            skip = await watcher.until(lambda m: m["type"] == "events" and m.get("skipped"), timeout=10)
            assert skip["events"] == []
            assert quiet_from <= parse_time(skip["from"])
            assert parse_time(skip["to"]) == quiet_to - timedelta(microseconds=1)
            watcher.assert_picture_true()
            # The next event comes in an ordinary frame, and the picture is the reference state all along.
            after = await watcher.until(lambda m: m["type"] == "events" and parse_time(m["to"]) >= quiet_to)
            assert not after.get("skipped")
            assert any(parse_time(item["event_timestamp"]) == quiet_to for item in after["events"])
            watcher.assert_picture_true()
            # A stop forgets the setting.
            await watcher.send(type="stop", id="halt")
            assert "skip_gaps" not in await watcher.until(of_type("status", reply_to="halt"))
