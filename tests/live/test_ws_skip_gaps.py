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


def holed_history(start: datetime, burst_steps: int = 10) -> History:
    """``burst_steps`` updates 200 ms apart, ten quiet minutes, as many updates again."""
    events = [Ev("public.vehicles", f"v{n}", "c", start, {"n": n}) for n in range(3)]
    for burst in (start, start + timedelta(milliseconds=200 * burst_steps) + HOLE):
        for step in range(1, burst_steps + 1):
            ts = burst + timedelta(milliseconds=200 * step)
            events.append(Ev("public.vehicles", f"v{step % 3}", "u", ts, {"step": step, "burst": str(burst)}))
    return History(events)


async def _refresh_rollup(settings: Settings) -> None:
    db = Database(PoolConfig(dsn=settings.database_url, min_size=1, max_size=2))
    await db.open()
    try:
        await refresh_rollup(db, datetime.now(UTC), timedelta(0))
    finally:
        await db.close()


def _hole(history: History) -> tuple[datetime, datetime]:
    quiet_from = max(e.ts for e in history.events if e.ts < history.first + HOLE)
    return quiet_from, min(e.ts for e in history.events if e.ts > quiet_from)


async def test_start_with_skip_gaps_jumps_a_quiet_stretch_in_one_empty_frame_and_refuses_a_bad_threshold(
    live_settings: Settings,
):
    history = holed_history((datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0))
    quiet_from, quiet_to = _hole(history)
    async with serve(live_settings) as server:
        async with server.client() as client:
            await ingest(client, history)
            session_id = await new_session(client)
        await _refresh_rollup(live_settings)
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


async def test_a_new_owner_keeps_skipping_and_a_follower_relays_the_skip_frame(live_settings: Settings, start_server):
    # Six seconds before the hole at speed 1: the owner is gone before playback gets there.
    history = holed_history((datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0), burst_steps=30)
    quiet_from, quiet_to = _hole(history)
    async with start_server(live_settings) as other:
        async with start_server(live_settings) as owner:
            async with owner.client() as client:
                await ingest(client, history)
                session_id = await new_session(client)
            await _refresh_rollup(live_settings)
            async with open_socket(owner.url, session_id, TOKEN) as owner_ws:
                await Watcher(owner_ws, history).state_complete()
                ws = await open_socket(other.url, session_id, TOKEN)
                watcher = Watcher(ws, history)
                await watcher.state_complete()
                await watcher.send(type="start", speed=1, skip_gaps={"min_s": 120}, id="go")
                assert (await watcher.until(of_type("status", reply_to="go")))["skip_gaps"] == {"min_s": 120.0}
        # The owner shut down: this replica takes the session over from its checkpoint, still skipping.
        async with ws:
            skip = await watcher.until(lambda m: m["type"] == "events" and m.get("skipped"), timeout=20)
            assert quiet_from <= parse_time(skip["from"])
            assert parse_time(skip["to"]) == quiet_to - timedelta(microseconds=1)
            await watcher.until(lambda m: m["type"] == "events" and parse_time(m["to"]) >= quiet_to)
            watcher.assert_picture_true()
