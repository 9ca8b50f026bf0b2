"""The messages between replicas (through Redis), and the control commands they carry.

These are the replicas' own structs, not the browser protocol's (:mod:`playback.messages`): a browser's ``start``
becomes a :class:`StartCommand` at the socket, a REST call builds one directly, and the same struct crosses to the
session's owner in a :class:`CommandNote`. Positions are integer microseconds; notes are JSON (msgspec). Frames
carry their events, so that a follower can conflate them per entity.
"""

from __future__ import annotations

from typing import Final

import msgspec

from playback.frames import ChangeEvent, Op
from playback.messages import LoopTo, PlayState, Seek, Speed, Start, Step, Stop, Until
from playback.ports import ClockStatus

_NULL: Final = msgspec.Raw(b"null")


# Control commands.


class StartCommand(msgspec.Struct, frozen=True, tag="start"):
    """Play, optionally at a new speed, optionally skipping stretches of ``skip_gaps`` seconds or more with no event."""

    speed: float | None = None
    skip_gaps: float | None = None


class StopCommand(msgspec.Struct, frozen=True, tag="stop"):
    """Pause."""


class SeekCommand(msgspec.Struct, frozen=True, tag="seek"):
    """Jump to ``position`` (microseconds since the epoch)."""

    position: int


class SpeedCommand(msgspec.Struct, frozen=True, tag="speed"):
    """Change the speed, playing or not."""

    speed: float


class StepCommand(msgspec.Struct, frozen=True, tag="step"):
    """Pause and move one frame interval (or to the next or previous event), forward or back."""

    forward: bool = True
    by_event: bool = False


class LoopCommand(msgspec.Struct, frozen=True, tag="loop"):
    """Loop over ``[start, end]`` (microseconds), or clear the loop (None)."""

    loop: tuple[int, int] | None = None


class UntilCommand(msgspec.Struct, frozen=True, tag="until"):
    """Pause exactly at ``at`` (microseconds), or forget a pending until (None)."""

    at: int | None = None


Command = StartCommand | StopCommand | SeekCommand | SpeedCommand | StepCommand | LoopCommand | UntilCommand
"""A control command, from a WebSocket, from the record-and-replay REST API, or forwarded by another replica."""

ClientCommand = Start | Stop | Seek | Speed | Step | LoopTo | Until
"""The browser's control messages."""


def command_of(message: ClientCommand) -> Command:
    """The control command a browser's message asks for."""
    match message:
        case Start(speed=speed, skip_gaps=skip):
            return StartCommand(speed, None if skip is None else skip.min_s)
        case Stop():
            return StopCommand()
        case Seek():
            return SeekCommand(message.position)
        case Speed(speed=speed):
            return SpeedCommand(speed)
        case Step(direction=direction, by=by):
            return StepCommand(forward=direction == "forward", by_event=by == "event")
        case LoopTo():
            return LoopCommand(message.positions)
        case Until():
            return UntilCommand(message.position)


# Checkpoints and notes.


class Checkpoint(msgspec.Struct, frozen=True):
    """The owner's clock, as a new owner or a follower needs it."""

    epoch: int
    state: PlayState
    position: int
    speed: float
    start: int
    end: int
    wall_time: float
    sent_to: int
    """Where the owner's frames end: where every follower's viewers are."""
    loop: tuple[int, int] | None = None
    """The loop set, so that a new owner keeps looping."""
    until: int | None = None
    """The pending until, so that a new owner still pauses there."""
    skip_gaps: float | None = None
    """The quiet-stretch threshold (seconds) of a playing clock that skips them, so that a new owner still does."""

    @property
    def clock(self) -> ClockStatus:
        return ClockStatus(
            self.state,
            self.position,
            self.speed,
            self.start,
            self.end,
            self.wall_time,
            self.loop,
            self.until,
            self.skip_gaps,
        )

    @classmethod
    def of(cls, epoch: int, status: ClockStatus, sent_to: int) -> Checkpoint:
        return cls(
            epoch,
            status.state,
            status.position,
            status.speed,
            status.start,
            status.end,
            status.wall_time,
            sent_to,
            status.loop,
            status.until,
            status.skip_gaps,
        )


# Notes on a session's channel, from its owner.


class NoteEvent(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A change event in a note (compact; a delete's state is the JSON ``null``)."""

    seq: int
    timestamp: int
    table_name: str
    entity_id: str
    op: Op
    entity_state: msgspec.Raw

    @classmethod
    def of(cls, event: ChangeEvent) -> NoteEvent:
        state = _NULL if event.entity_state is None else event.entity_state
        return cls(event.seq, event.timestamp, event.table_name, event.entity_id, event.op, state)

    def change(self) -> ChangeEvent:
        state = None if bytes(self.entity_state) == b"null" else self.entity_state
        return ChangeEvent(self.seq, self.timestamp, self.table_name, self.entity_id, self.op, state)


class FrameNote(msgspec.Struct, frozen=True, tag="frame"):
    """A frame: the events of ``(from_, to]``; ``skipped`` for a jump over a quiet stretch."""

    epoch: int
    from_: int
    to: int
    events: list[NoteEvent]
    skipped: bool = False


class ResetNote(msgspec.Struct, frozen=True, tag="reset"):
    """A seek: viewers need the state at ``position``."""

    epoch: int
    position: int


class StatusNote(msgspec.Struct, frozen=True, tag="status"):
    """The clock changed, or a second passed."""

    epoch: int
    checkpoint: Checkpoint


class EndedNote(msgspec.Struct, frozen=True, tag="ended"):
    """Playback reached the end of the range."""

    epoch: int
    position: int


SessionNote = FrameNote | ResetNote | StatusNote | EndedNote

# Notes on a replica's channel.


class CommandNote(msgspec.Struct, frozen=True, tag="command"):
    """A viewer's command, for the session's owner."""

    request_id: str
    reply_to: str
    session_id: str
    actor: str
    command: Command


class ReplyNote(msgspec.Struct, frozen=True, tag="reply"):
    """The owner's answer: its clock after the command, or the refusal."""

    request_id: str
    checkpoint: Checkpoint | None = None
    code: str | None = None
    message: str | None = None


class FollowNote(msgspec.Struct, frozen=True, tag="follow"):
    """A replica follows a session: its owner must publish frames."""

    session_id: str


ReplicaNote = CommandNote | ReplyNote | FollowNote


class TerminatedNote(msgspec.Struct, frozen=True):
    """Sessions that stopped being ACTIVE."""

    session_ids: list[str]


encoder: Final = msgspec.json.Encoder()
"""Encodes every note (a session note once, however many replicas follow)."""
session_notes: Final = msgspec.json.Decoder(SessionNote)
replica_notes: Final = msgspec.json.Decoder(ReplicaNote)
terminated_notes: Final = msgspec.json.Decoder(TerminatedNote)
checkpoints: Final = msgspec.json.Decoder(Checkpoint)


def encode_note(note: SessionNote) -> bytes:
    """The JSON of a session note (encoded once, published once)."""
    return encoder.encode(note)
