"""Errors of the playback engine.

Errors a client can cause by a command are :class:`~playback.messages.ProtocolError` s carrying the stable
code of the ``error`` frame. Errors that only a wrong caller can cause (time going backwards, a malformed
feed) are plain ``ValueError`` s: they are bugs, not answers.
"""

from __future__ import annotations

from playback.messages import INVALID_SPEED, INVALID_TIMESTAMP, NOT_ALLOWED, ProtocolError


class InvalidSpeedError(ProtocolError, ValueError):
    """A speed outside the supported range."""

    code = INVALID_SPEED


class PositionOutOfRangeError(ProtocolError, ValueError):
    """A position (a seek target) outside the playback range."""

    code = INVALID_TIMESTAMP


class IllegalTransitionError(ProtocolError):
    """A command that the session's current state does not allow."""

    code = NOT_ALLOWED


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
