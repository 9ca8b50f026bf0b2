"""A session's playback range is given once, even when several replicas load the session at the same moment."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from store.playback import PlaybackStore
from store.sessions import SessionRepository


async def test_replicas_loading_a_session_at_once_all_see_the_one_range_it_was_given(db):
    sessions, playback = SessionRepository(db), PlaybackStore(db)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    for _ in range(5):
        row = await sessions.create(uuid.uuid4(), kind="msr", tenant_id=uuid.uuid4(), user_id="u")
        # Each "replica" proposes its own window; the first UPDATE wins and every caller must see that one.
        proposals = [(start + timedelta(seconds=i), start + timedelta(hours=1, seconds=i)) for i in range(4)]
        rows = await asyncio.gather(*(playback.set_range(row.id, a, b) for a, b in proposals))
        ranges = {(r.range_start, r.range_end) for r in rows}
        assert len(ranges) == 1, ranges
        assert ranges <= set(proposals)
