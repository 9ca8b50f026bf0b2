"""Errors of the playback engine.

Errors a client can cause by a command are :class:`PlaybackError` s; what each is answered with (a WebSocket
``error`` code, an HTTP status) is the application's business, not the engine's. Errors that only a wrong caller
can cause (time going backwards, a malformed feed) are plain ``ValueError`` s: they are bugs, not answers.
"""

from __future__ import annotations


class PlaybackError(Exception):
    """A command the engine refuses."""


class InvalidSpeedError(PlaybackError, ValueError):
    """A speed outside the supported range."""


class PositionOutOfRangeError(PlaybackError, ValueError):
    """A position (a seek target) outside the playback range."""


class IllegalTransitionError(PlaybackError):
    """A command that the session's current state does not allow."""


class SessionEndedError(IllegalTransitionError):
    """Start on a session at the end of its range: seek first."""


class AlreadyPlayingError(IllegalTransitionError):
    """Start on a session that is playing."""


class NotPlayingError(IllegalTransitionError):
    """Stop on a session that is not playing."""


class TimeWentBackwardsError(ValueError):
    """A ``now`` earlier than one the engine was already given; the caller must use a monotonic clock."""


class FeedError(ValueError):
    """A batch of events that breaks the feed contract (outside its interval, or out of order)."""
