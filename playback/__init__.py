"""The playback engine: a pure clock and frame scheduler, and the runner that drives it.

This package does no I/O of its own: it imports neither the app, the store, nor any driver. Its public face is
below; :mod:`playback.messages` is the browser's wire protocol and :mod:`playback.instants` the time helpers.
"""

from playback.clock import MAX_SPEED, MIN_SPEED
from playback.errors import (
    AlreadyPlayingError,
    IllegalTransitionError,
    InvalidSpeedError,
    NotPlayingError,
    PlaybackError,
    PositionOutOfRangeError,
    SessionEndedError,
)
from playback.frames import ChangeEvent, Frame, Op
from playback.outbox import EncodedFrame, ViewerOutbox
from playback.ports import ClockStatus, EventBatch, EventSource, PlaybackSink, StatePart
from playback.runner import PlaybackRunner, Viewer
from playback.session import PlaybackSession

__all__ = [
    "MAX_SPEED",
    "MIN_SPEED",
    "AlreadyPlayingError",
    "ChangeEvent",
    "ClockStatus",
    "EncodedFrame",
    "EventBatch",
    "EventSource",
    "Frame",
    "IllegalTransitionError",
    "InvalidSpeedError",
    "NotPlayingError",
    "Op",
    "PlaybackError",
    "PlaybackRunner",
    "PlaybackSession",
    "PlaybackSink",
    "PositionOutOfRangeError",
    "SessionEndedError",
    "StatePart",
    "Viewer",
    "ViewerOutbox",
]
