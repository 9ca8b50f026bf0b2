"""The playback WebSocket protocol (SPEC section 8), defined once.

Every message is a JSON object whose ``type`` names it. Server messages are only ever encoded; the parts
that are the same for every viewer (the events of a frame, the entities of a state chunk) are
:class:`msgspec.Raw` so they are encoded once and spliced into each viewer's message, where only ``seq``
differs. Client messages are decoded by one decoder, built at import, that rejects unknown fields and names
the JSON path of whatever is wrong. Every client message may carry an ``id``, echoed as ``reply_to``.

Timestamps on the wire are RFC3339 in UTC with a ``Z``; in the engine they are integer microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Final, Literal, get_args

import msgspec

from playback.frames import ChangeEvent, Op
from playback.instants import format_timestamp, to_micros

PROTOCOL_VERSION: Final = 1

BAD_MESSAGE: Final = "BAD_MESSAGE"
"""The message is not JSON, or does not have the shape of its ``type``."""
UNKNOWN_TYPE: Final = "UNKNOWN_TYPE"
"""The ``type`` names no client message."""
MESSAGE_TOO_LARGE: Final = "MESSAGE_TOO_LARGE"
"""The message is over the size limit."""
UNAUTHORIZED: Final = "UNAUTHORIZED"
"""No valid token was presented."""
FORBIDDEN: Final = "FORBIDDEN"
"""The caller may not attach to, or control, this session."""
INVALID_SPEED: Final = "INVALID_SPEED"
"""The speed is outside 0.1 to 1000."""
INVALID_TIMESTAMP: Final = "INVALID_TIMESTAMP"
"""The timestamp is outside the playback range."""
NOT_ALLOWED: Final = "NOT_ALLOWED"
"""The command is illegal in the session's current state (for example, start on an ended session)."""
RATE_LIMITED: Final = "RATE_LIMITED"
"""Too many messages; the connection is closed with 1008 if the flood goes on."""
SESSION_INACTIVE: Final = "SESSION_INACTIVE"
"""The session was terminated or went idle."""
INTERNAL_ERROR: Final = "INTERNAL_ERROR"
"""The server failed; the message says nothing more."""

MessageId = Annotated[str, msgspec.Meta(max_length=128)] | int
"""A client's correlation id: a short string or an integer, echoed back as ``reply_to``."""
PlayState = Literal["paused", "playing", "ended"]

# Server to client.


class Range(msgspec.Struct, frozen=True, kw_only=True):
    """The playback range of a session, both ends inclusive."""

    start: str
    end: str


class _ServerMessage(msgspec.Struct, frozen=True, tag_field="type"):
    """What every server message shares: the ``type`` tag (each subclass repeats ``frozen`` for type checkers)."""


class Hello(_ServerMessage, tag="hello", frozen=True, kw_only=True):
    """First message after a successful attach."""

    session_id: str
    protocol: int = PROTOCOL_VERSION
    state: PlayState
    speed: float
    position: str
    range_: Range = msgspec.field(name="range")


class State(_ServerMessage, tag="state", frozen=True, kw_only=True, omit_defaults=True):
    """One chunk (numbered from 1) of the full state at ``timestamp``."""

    seq: int
    timestamp: str
    entities: msgspec.Raw
    """A pre-encoded JSON array of wire events (see :func:`encode_events`)."""
    chunk: int
    chunks: int
    total: int | None = None
    """For a viewer with a viewport, on the last chunk: how many entities the whole state has (inside or not)."""


class Events(_ServerMessage, tag="events", frozen=True, kw_only=True, omit_defaults=True):
    """The events of ``(from, to]``; ``conflated`` (only sent when true) when a slow viewer's frames were merged.

    ``seek`` (only sent when true) marks a diff-seek: after a seek near the viewer's position (``from``), the net
    change to the target ``to`` (which may be earlier than ``from``) instead of a full ``state``. Its items are,
    for every entity changed between the two, the entity as it is at ``to`` (its latest event at or before
    ``to``), or an item with ``op`` ``"d"`` when the entity does not exist at ``to`` (such an item's
    ``event_timestamp`` may be ``to`` itself). Clients apply it as upserts and deletes, then set their clock to
    ``to``; frames continue from ``to``.
    """

    seq: int
    from_: str = msgspec.field(name="from")
    to: str
    events: msgspec.Raw
    """A pre-encoded JSON array of wire events (see :func:`encode_events`)."""
    conflated: bool = False
    seek: bool = False
    total: int | None = None
    """For a viewer with a viewport: how many entities exist at ``to``, inside the viewport or not."""
    skipped: bool = False
    """Only sent when true: a jump over a quiet stretch (``start`` with ``skip_gaps``); ``events`` is empty."""


class Status(_ServerMessage, tag="status", frozen=True, kw_only=True, omit_defaults=True):
    """The playback state, after every control command and about once a second."""

    state: PlayState
    position: str
    speed: float
    reply_to: MessageId | None = None
    loop: LoopRange | None = None
    """The loop set by a ``loop`` command, when one is."""
    until: str | None = None
    """The instant set by an ``until`` command, while playback has not reached it."""
    skip_gaps: SkipGaps | None = None
    """The quiet-stretch threshold of the ``start`` that is playing, when it asked to skip them."""


class LoopRange(msgspec.Struct, frozen=True, kw_only=True):
    """A loop in ``status``: playback that reaches ``to`` goes on from ``from``."""

    from_: str = msgspec.field(name="from")
    to: str


class Ended(_ServerMessage, tag="ended", frozen=True, kw_only=True):
    """Playback reached the end of the range."""

    position: str


class Error(_ServerMessage, tag="error", frozen=True, kw_only=True, omit_defaults=True):
    """A message or command was refused; ``code`` is one of this module's constants."""

    code: str
    message: str
    reply_to: MessageId | None = None


ServerMessage = Hello | State | Events | Status | Ended | Error


class WireEvent(msgspec.Struct, frozen=True):
    """A change event as a client sees it (the items of ``events`` and ``entities``)."""

    entity_id: str
    table_name: str
    op: Op
    entity_state: msgspec.Raw | None
    event_timestamp: str


ViewChange = Literal["enter", "leave"]
"""For a viewer with a viewport, an item's ``view``: the entity came into the viewport, or left it."""


class Leave(msgspec.Struct, frozen=True):
    """The item that takes an entity out of a viewer's viewport: a delete for the client, marked ``leave``."""

    entity_id: str
    table_name: str
    event_timestamp: str
    op: Op = "d"
    entity_state: None = None
    view: ViewChange = "leave"


ENTER_PREFIX: Final = b'{"view":"enter",'
"""Spliced in place of an item's opening brace to mark it as entering the viewport (the item is otherwise as is)."""


# Client to server.


class _ClientMessage(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", forbid_unknown_fields=True, omit_defaults=True
):
    """What every client message shares: the ``type`` tag, the strictness, and the optional ``id``."""

    id: MessageId | None = None
    """Echoed as ``reply_to`` in the answer to this message."""


class Auth(_ClientMessage, tag="auth", frozen=True, kw_only=True):
    """A browser's credentials, as its first message."""

    token: str


MAX_SKIP_GAP_S: Final = 366 * 86_400.0
"""The largest ``skip_gaps.min_s`` accepted: a year."""


class SkipGaps(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Jump over stretches with no events longer than ``min_s`` seconds of event time."""

    min_s: Annotated[float, msgspec.Meta(gt=0, le=MAX_SKIP_GAP_S)]


class Start(_ClientMessage, tag="start", frozen=True, kw_only=True):
    """Play, optionally at a new speed, optionally skipping quiet stretches (until the next ``start`` or ``stop``)."""

    speed: float | None = None
    skip_gaps: SkipGaps | None = None


class Stop(_ClientMessage, tag="stop", frozen=True, kw_only=True):
    """Pause."""


class Seek(_ClientMessage, tag="seek", frozen=True, kw_only=True):
    """Jump to an instant; a fresh ``state`` follows, or an ``events`` frame flagged ``seek`` when it is near."""

    timestamp: Annotated[datetime, msgspec.Meta(tz=True)]

    @property
    def position(self) -> int:
        """The target instant in microseconds since the epoch."""
        return to_micros(self.timestamp)


class Speed(_ClientMessage, tag="speed", frozen=True, kw_only=True):
    """Change the speed, playing or not."""

    speed: float


class Resume(_ClientMessage, tag="resume", frozen=True, kw_only=True):
    """After a reconnect: the last ``seq`` the client applied."""

    seq: Annotated[int, msgspec.Meta(ge=0)]


Instant = Annotated[datetime, msgspec.Meta(tz=True)]


class Step(_ClientMessage, tag="step", frozen=True, kw_only=True):
    """Pause and step: one frame interval of event time at the current speed, or to the next or previous event.

    ``by`` ``frame`` or ``event``; the position stays inside the range.
    """

    direction: Literal["forward", "back"] = "forward"
    by: Literal["frame", "event"] = "frame"


class LoopTo(_ClientMessage, tag="loop", frozen=True, kw_only=True):
    """Loop over ``[from, to]``: playback that reaches ``to`` goes on from ``from``. Neither field clears the loop."""

    from_: Instant | None = msgspec.field(default=None, name="from")
    to: Instant | None = None

    def __post_init__(self) -> None:
        if (self.from_ is None) != (self.to is None):
            raise ValueError("a loop needs both `from` and `to` (or neither, to clear it)")

    @property
    def positions(self) -> tuple[int, int] | None:
        """``(from, to)`` in microseconds since the epoch, or None to clear the loop."""
        if self.from_ is None or self.to is None:
            return None
        return (to_micros(self.from_), to_micros(self.to))


class Until(_ClientMessage, tag="until", frozen=True, kw_only=True):
    """Pause exactly at ``at`` when playback reaches it (once); without ``at``, forget a pending until."""

    at: Instant | None = None

    @property
    def position(self) -> int | None:
        """``at`` in microseconds since the epoch, or None to clear."""
        return None if self.at is None else to_micros(self.at)


def _longitude(value: float) -> bool:
    return -180.0 <= value <= 180.0


def _latitude(value: float) -> bool:
    return -90.0 <= value <= 90.0


class View(_ClientMessage, tag="view", frozen=True, kw_only=True):
    """Show only the entities whose geometry intersects ``bbox`` (``[west, south, east, north]``); null: all.

    ``west > east`` is a box across the antimeridian. Longitudes are within [-180, 180], latitudes within
    [-90, 90], and ``south <= north``; anything else is refused as ``BAD_MESSAGE`` naming ``$.bbox``.
    """

    bbox: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.bbox is None:
            return
        west, south, east, north = self.bbox
        # NaN fails every comparison, so it is refused here too (JSON's 1e999 decodes as infinity).
        if not (_longitude(west) and _longitude(east)):
            raise ValueError("longitudes must be within [-180, 180] - at `$.bbox`")
        if not (_latitude(south) and _latitude(north) and south <= north):
            raise ValueError("latitudes must be within [-90, 90] with south <= north - at `$.bbox`")


ClientMessage = Auth | Start | Stop | Seek | Speed | Resume | Step | LoopTo | Until | View

_CLIENT_TYPES: Final = frozenset(kind.__struct_config__.tag for kind in get_args(ClientMessage))


class _TypeOnly(msgspec.Struct):
    type: str


class ClientMessageError(Exception):
    """A client message that cannot be decoded.

    The message names the JSON path at fault; ``code`` is the ``error`` frame's (``BAD_MESSAGE`` or ``UNKNOWN_TYPE``).
    """

    def __init__(self, message: str, *, code: str = BAD_MESSAGE) -> None:
        super().__init__(message)
        self.code = code


_client_decoder: Final[msgspec.json.Decoder[ClientMessage]] = msgspec.json.Decoder(ClientMessage)
_type_decoder: Final = msgspec.json.Decoder(_TypeOnly)
_encoder: Final = msgspec.json.Encoder()


def decode_client(data: bytes | str) -> ClientMessage:
    """Decode one client message, or raise :class:`ClientMessageError` (``BAD_MESSAGE`` or ``UNKNOWN_TYPE``)."""
    try:
        return _client_decoder.decode(data)
    except msgspec.DecodeError as error:
        # Only on the error path: tell an unknown type apart from a known type with a bad shape.
        try:
            kind = _type_decoder.decode(data).type
        except msgspec.DecodeError:
            kind = None
        if kind is not None and kind not in _CLIENT_TYPES:
            raise ClientMessageError(f"unknown message type {kind!r}", code=UNKNOWN_TYPE) from error
        raise ClientMessageError(str(error)) from error


def encode(message: ServerMessage) -> bytes:
    """The JSON text of one server message."""
    return _encoder.encode(message)


def wire_event(event: ChangeEvent) -> WireEvent:
    """A change event as a client sees it."""
    return WireEvent(
        entity_id=event.entity_id,
        table_name=event.table_name,
        op=event.op,
        entity_state=event.entity_state,
        event_timestamp=format_timestamp(event.timestamp),
    )


def encode_events(events: Iterable[ChangeEvent]) -> msgspec.Raw:
    """Encode events once, as the JSON array that :class:`Events` and :class:`State` splice in."""
    return msgspec.Raw(_encoder.encode([wire_event(event) for event in events]))
