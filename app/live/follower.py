"""The follower role: a session owned by another replica, watched here.

A follower subscribes to the session's notes before it reads where the owner is (so a note published in between is
not lost), then feeds its viewers from the notes of the highest owner epoch it has heard; notes of an older owner
are ignored. Its viewers' commands go to the owner (:meth:`app.live.cluster.PlaybackCluster.request`).
"""

from __future__ import annotations

from app.live.cluster import PlaybackCluster
from app.live.protocol import EndedNote, FrameNote, ResetNote, SessionNote, StatusNote
from app.live.session import LiveSession
from playback.frames import Frame
from playback.outbox import EncodedFrame


class FollowerRole:
    """Follows the sessions that other replicas own; see the module's docstring."""

    def __init__(self, cluster: PlaybackCluster) -> None:
        self._cluster = cluster

    async def follow(self, live: LiveSession) -> None:
        """Receive the session's notes, and know where its owner is now."""
        await self._cluster.follow(live.session_id)
        checkpoint = await self._cluster.checkpoint(live.session_id)
        if checkpoint is not None and checkpoint.epoch >= live.epoch:
            live.epoch = checkpoint.epoch
            live.clock = checkpoint.clock
            live.tail = checkpoint.sent_to

    async def unfollow(self, live: LiveSession) -> None:
        """Stop receiving the session's notes (it is owned here now, or gone)."""
        await self._cluster.unfollow(live.session_id)

    @staticmethod
    def apply(live: LiveSession, note: SessionNote) -> None:
        """A note from the session's owner, for the viewers here."""
        if live.owner is not None or note.epoch < live.epoch:
            return
        live.epoch = note.epoch
        match note:
            case FrameNote():
                if note.to > live.tail:
                    events = tuple(event.change() for event in note.events)
                    live.fan_frame(EncodedFrame.of(Frame(note.from_, note.to, events, 0.0, note.skipped)))
            case ResetNote(position=position):
                live.fan_reset(position)
            case StatusNote(checkpoint=checkpoint):
                live.fan_status(checkpoint.clock)
            case EndedNote(position=position):
                live.fan_ended(position)
