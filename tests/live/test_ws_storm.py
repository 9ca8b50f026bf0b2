"""A reconnect storm (R17): viewers of one session, each its own user, all dropped at once without a close frame,
all reconnect together with ``resume``: none loses or repeats a frame, each finds its kept viewer (no fresh state
from the database), all play again, and the kept viewers are released after the grace."""

import asyncio
import gc
import time

from app.live.registry import LiveRegistry
from tests.live.storm import drop_and_resume, join, leave, playing
from tests.live.support import ingest, new_session
from tests.support import RunningServer, serve

VIEWERS = 100
GRACE_S = 10.0
HISTORY_FRAMES = 1000
"""Long enough that a viewer's kept frames bridge however long the storm takes on a busy machine."""


def registry_of(server: RunningServer) -> LiveRegistry:
    registry = server.server.config.app.state.services.playback
    assert isinstance(registry, LiveRegistry)
    return registry


async def test_a_reconnect_storm_resumes_every_viewer_from_its_kept_frames(live_settings, history):
    settings = live_settings.replace(ws_resume_grace_s=GRACE_S, viewer_history_frames=HISTORY_FRAMES)
    async with serve(settings) as server:
        async with server.client() as client:
            await ingest(client, history)
            session_id = await new_session(client)
        async with playing(server.url, session_id, history):
            crowd = await join(server.url, session_id, VIEWERS, history, timeout_s=60)
            figures = await drop_and_resume(server.url, session_id, crowd, timeout_s=60)
            print(
                f"\nreconnect storm of {figures.viewers} viewers: all playing again after "
                f"{figures.seconds_to_all_playing:.2f} s (median {figures.median_s:.2f} s), "
                f"{figures.fresh_states} needed a fresh state"
            )
            assert figures.fresh_states == 0, "every viewer continued from its kept frames"
            registry = registry_of(server)
            await leave(crowd)
        # Every viewer left: their kept viewers go after the grace, and nothing else holds them.
        deadline = time.monotonic() + GRACE_S + 10
        while registry.parked_count() or len(registry.viewer_info):
            assert time.monotonic() < deadline, (registry.parked_count(), len(registry.viewer_info))
            gc.collect()
            await asyncio.sleep(0.5)
