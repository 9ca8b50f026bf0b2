"""The clock saved in a session's row is fenced by the lease epoch of the owner that saves it (G3)."""

import uuid
from datetime import UTC, datetime, timedelta

from store.playback import PlaybackStore
from store.sessions import SessionRepository


async def test_a_save_of_an_older_epoch_leaves_the_newer_owners_clock(db):
    sessions, playback = SessionRepository(db), PlaybackStore(db)
    row = await sessions.create(uuid.uuid4(), kind="msr", tenant_id=uuid.uuid4(), user_id="u")
    at = datetime(2026, 1, 5, tzinfo=UTC)

    assert await playback.save_clock(row.id, 7, "playing", 10, at)
    assert await playback.save_clock(row.id, 8, "playing", 5, at + timedelta(seconds=1))
    # The owner of epoch 7 woke up after its lease was taken: its save changes nothing.
    assert not await playback.save_clock(row.id, 7, "paused", 10, at + timedelta(seconds=2))
    # The owner of the row's epoch saves again as often as it likes.
    assert await playback.save_clock(row.id, 8, "paused", 5, at + timedelta(seconds=3))

    saved = await sessions.get(row.id)
    assert (saved.playback_state, saved.playback_speed, saved.playback_position) == (
        "paused",
        5,
        at + timedelta(seconds=3),
    )
