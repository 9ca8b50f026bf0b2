"""Ingest bodies of ``POST /v1/ingest/events``: change events (a JSON array or NDJSON), validated row by row.

A batch is all or nothing: the first bad row is a 400 whose details name the row (its 0-based index among the
batch's events; for NDJSON also the 1-based ``line``) and the field. Nothing is decoded that need not be:
``entity_state`` stays the JSON text the client sent.

Per-field rules of ``POST /v1/ingest/events``: ``entity_id`` a non-empty string of at most 512 characters;
``table_name`` ``schema.table`` or ``table`` (identifiers of at most 63 characters: a letter or ``_``, then
letters, digits, ``_`` or ``$``); ``op`` one of ``c r u d``; ``entity_state`` a JSON object for ``c r u`` (for
``d`` it may be null, absent or an object, and is stored as null); ``event_timestamp`` an RFC3339 instant with a
zone, at most :data:`FUTURE_SKEW` ahead of the server's clock; ``event_id`` optional, a string of at most 512
characters; ``tenant_id`` optional: another tenant than the caller's is a 403, unless the caller is a global admin
(``MSR_GLOBAL_ADMIN_ROLE``, as for sessions), whose rows are then stored for that tenant. Other fields are
ignored.

Size limits: an event (an NDJSON line, or an item of the JSON array) is at most ``MSR_MAX_EVENT_BYTES`` (1 MiB),
its ``entity_state`` too, and the state nests objects and arrays at most ``MSR_MAX_STATE_DEPTH`` (32) deep; past
either the batch is a 400 naming the row and field, like any bad row (the whole body is bounded by
``MSR_MAX_BODY_BYTES``: 413).

An optional ``transaction_id`` (a string of at most 512 characters) names the source transaction of the row: the
events of one transaction are recorded at one instant (``store.recording``). Debezium envelopes are read by
``app.domain.debezium``.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, TypeVar

import msgspec

from app.auth import Principal
from app.errors import ApiError, DomainError, ErrorCode, forbidden, validation_error
from app.web import parse_rfc3339
from store.events import NewEvent

_ItemT = TypeVar("_ItemT")

FUTURE_SKEW = timedelta(minutes=5)
"""How far ahead of the server's clock an event may be (clocks of sources and server differ a little)."""
MAX_ID_CHARS = 512
"""Longest ``entity_id`` and ``event_id``."""
PARSE_SLICE = 500
"""Rows validated between two yields to the event loop, so a big batch never stalls playback frames."""

NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"})
"""Content types read as one JSON event per line."""
JSON_TYPES = frozenset({"application/json", "text/json"})
"""Content types read as a JSON array of events (also assumed when the type is missing)."""

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_$]{0,62}"
_TABLE_NAME = re.compile(rf"^{_IDENTIFIER}(\.{_IDENTIFIER})?$")
_QUALIFIED_TABLE_NAME = re.compile(rf"^{_IDENTIFIER}\.{_IDENTIFIER}$")
_OPS = frozenset("crud")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"{}[]")
_NESTING_STEP = {ord("{"): 1, ord("["): 1, ord("}"): -1, ord("]"): -1}


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """The size limits of ingested events (``MSR_MAX_EVENT_BYTES``, ``MSR_MAX_STATE_DEPTH``)."""

    max_event_bytes: int = 1024 * 1024
    max_state_depth: int = 32


def nesting_depth(text: bytes) -> int:
    """How deep objects and arrays nest in a JSON text (brackets inside strings do not count)."""
    brackets = _JSON_STRING.sub(b"", text).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_NESTING_STEP.__getitem__, brackets)), default=0)


class _EventRow(msgspec.Struct, gc=False):
    """A row of ``POST /v1/ingest/events`` whose fields have the right JSON types (values not checked yet)."""

    entity_id: str
    table_name: str
    op: str
    event_timestamp: str
    entity_state: msgspec.Raw = msgspec.Raw()
    """Empty when absent."""
    event_id: str | None = None
    tenant_id: str | None = None
    transaction_id: str | None = None


# Well-formed batches are decoded in one pass; a batch that fails it is decoded again row by row, field by
# field, to name the first bad row and field.
_EVENT_ROWS = msgspec.json.Decoder(list[_EventRow])
_EVENT_ROW = msgspec.json.Decoder(_EventRow)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])
_OBJECT_OR_NULL = msgspec.json.Decoder(dict[str, msgspec.Raw] | None)
_STRING = msgspec.json.Decoder(str)
_STRING_OR_NULL = msgspec.json.Decoder(str | None)


def is_table_name(name: str) -> bool:
    """``schema.table`` or ``table``, each part an identifier."""
    return bool(_TABLE_NAME.match(name))


def is_qualified_table_name(name: str) -> bool:
    """``schema.table`` exactly (the form of ``snapshot_list_tables``)."""
    return bool(_QUALIFIED_TABLE_NAME.match(name))


class RowError(Exception):
    """A row of the batch is invalid; becomes the 400 (or 403) answer of the whole batch."""

    def __init__(self, field: str | None, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


def check_event_size(text: msgspec.Raw | bytes, limits: IngestLimits, what: str) -> None:
    """Refuse an event as sent (``what``: "the event", "the message") over ``MSR_MAX_EVENT_BYTES``: a RowError."""
    if len(text) > limits.max_event_bytes:
        raise RowError(None, f"{what} is over MSR_MAX_EVENT_BYTES ({limits.max_event_bytes} bytes)")


def checked_state(state: bytes, limits: IngestLimits, field: str) -> bytes:
    """``state`` (the JSON text of an object) when within the size and nesting limits; else a RowError on ``field``."""
    if len(state) > limits.max_event_bytes:
        raise RowError(field, f"{field} is over MSR_MAX_EVENT_BYTES ({limits.max_event_bytes} bytes)")
    # Counting brackets is cheap and almost always enough; only a state with many is scanned.
    if state.count(b"{") + state.count(b"[") > limits.max_state_depth and nesting_depth(state) > limits.max_state_depth:
        raise RowError(field, f"{field} nests deeper than MSR_MAX_STATE_DEPTH ({limits.max_state_depth})")
    return state


@dataclass(frozen=True, slots=True)
class IngestBatch:
    """A validated batch and the messages skipped (Debezium's tombstones, heartbeats, ...), in all and by kind."""

    events: list[NewEvent]
    skipped: int = 0
    skipped_kinds: dict[str, int] = field(default_factory=dict)


def body_kind(content_type: str | None) -> str:
    """``json`` or ``ndjson`` from a ``Content-Type`` header; a 415 for any other type."""
    media_type = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if media_type in NDJSON_TYPES:
        return "ndjson"
    if media_type in JSON_TYPES:
        return "json"
    raise ApiError(
        415,
        ErrorCode.VALIDATION_ERROR,
        "send application/json (an array of events) or application/x-ndjson (one event per line)",
        details={"content_type": media_type[:100]},
    )


def _json_rows(body: bytes, what: str) -> list[msgspec.Raw]:
    try:
        return _RAW_LIST.decode(body)
    except msgspec.ValidationError:
        raise validation_error(f"the body must be a JSON array of {what}") from None
    except msgspec.DecodeError as exc:
        raise validation_error(f"the body is not valid JSON: {exc}") from None


def _ndjson_rows(body: bytes) -> tuple[list[bytes], list[int]]:
    """The non-blank lines of an NDJSON body, and their 1-based line numbers."""
    texts: list[bytes] = []
    numbers: list[int] = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        text = line.strip()
        if text:
            texts.append(text)
            numbers.append(number)
    return texts, numbers


def _batch_error(index: int, line: int | None, error: RowError) -> DomainError:
    where = f"row {index}" + (f" (line {line})" if line is not None else "")
    message = f"{where}: {error.message}"
    details: dict[str, Any] = {"row": index, "field": error.field}
    if line is not None:
        details["line"] = line
    if error.status == 403:
        api_error = forbidden(message)
        api_error.details = details
        return api_error
    return validation_error(message, details)


async def _validate(
    items: Sequence[_ItemT], convert: Callable[[_ItemT], NewEvent | None], lines: Sequence[int] | None = None
) -> list[NewEvent]:
    """Convert every item, yielding to the event loop between slices; the first bad row fails the batch."""
    events: list[NewEvent] = []
    for start in range(0, len(items), PARSE_SLICE):
        if start:
            await asyncio.sleep(0)
        for index in range(start, min(start + PARSE_SLICE, len(items))):
            try:
                event = convert(items[index])
            except RowError as error:
                raise _batch_error(index, None if lines is None else lines[index], error) from None
            if event is not None:
                events.append(event)
    return events


def _decode_object(text: msgspec.Raw | bytes, field: str | None) -> dict[str, msgspec.Raw]:
    try:
        return _OBJECT.decode(text)
    except msgspec.ValidationError:
        raise RowError(field, f"{field or 'the row'} must be a JSON object") from None
    except msgspec.DecodeError:
        raise RowError(field, f"{field or 'the row'} is not valid JSON") from None


def _required_string(fields: dict[str, msgspec.Raw], name: str, path: str | None = None) -> str:
    raw = fields.get(name)
    field = path or name
    if raw is None:
        raise RowError(field, f"{field} is required")
    try:
        return _STRING.decode(raw)
    except msgspec.ValidationError:
        raise RowError(field, f"{field} must be a string") from None


def _optional_string(fields: dict[str, msgspec.Raw], name: str) -> str | None:
    raw = fields.get(name)
    if raw is None:
        return None
    try:
        value: str | None = _STRING_OR_NULL.decode(raw)
    except msgspec.ValidationError:
        raise RowError(name, f"{name} must be a string") from None
    return value


def _check_id(value: str, field: str) -> str:
    if not value:
        raise RowError(field, f"{field} must not be empty")
    if len(value) > MAX_ID_CHARS:
        raise RowError(field, f"{field} must be at most {MAX_ID_CHARS} characters")
    if "\x00" in value:
        raise RowError(field, f"{field} must not contain NUL characters")
    return value


def _check_table_name(value: str, field: str) -> str:
    if not is_table_name(value):
        raise RowError(field, f"{field} must be 'schema.table' or 'table' (identifiers), got {value[:80]!r}")
    return value


def _check_time(moment: datetime, field: str, now: datetime) -> datetime:
    if moment > now + FUTURE_SKEW:
        raise RowError(field, f"{field} is in the future (more than {int(FUTURE_SKEW.total_seconds())} s ahead)")
    return moment


class _EventConverter:
    """Turns rows of ``POST /v1/ingest/events`` into :class:`NewEvent` values, or raises a :class:`RowError`."""

    def __init__(self, principal: Principal, now: datetime, limits: IngestLimits) -> None:
        self._principal = principal
        self._now = now
        self._limits = limits
        self._tenants: dict[str, uuid.UUID] = {}
        self._table_names: set[str] = set()

    def __call__(self, text: msgspec.Raw | bytes) -> NewEvent:
        """Check one row given as JSON text."""
        check_event_size(text, self._limits, "the event")
        return self.checked(self.typed(text))

    def typed(self, text: msgspec.Raw | bytes) -> _EventRow:
        """The row with its JSON types checked; a RowError names the first field of a wrong type."""
        try:
            return _EVENT_ROW.decode(text)
        except msgspec.MsgspecError:
            pass
        fields = _decode_object(text, None)
        return _EventRow(
            entity_id=_required_string(fields, "entity_id"),
            table_name=_required_string(fields, "table_name"),
            op=_required_string(fields, "op"),
            event_timestamp=_required_string(fields, "event_timestamp"),
            entity_state=fields.get("entity_state", msgspec.Raw()),
            event_id=_optional_string(fields, "event_id"),
            tenant_id=_optional_string(fields, "tenant_id"),
            transaction_id=_optional_string(fields, "transaction_id"),
        )

    def checked(self, row: _EventRow) -> NewEvent:
        """The event of a typed row, its values checked."""
        table_name = row.table_name
        if table_name not in self._table_names:
            self._table_names.add(_check_table_name(table_name, "table_name"))
        op = row.op
        if op not in _OPS:
            raise RowError("op", f"op must be one of c, r, u, d; got {op[:10]!r}")
        moment = parse_rfc3339(row.event_timestamp)
        if moment is None:
            raise RowError("event_timestamp", "event_timestamp must be an RFC3339 instant with a zone")
        state = bytes(row.entity_state)
        if op == "d":
            if state and state != b"null" and state[:1] != b"{":
                raise RowError("entity_state", "entity_state must be a JSON object or null")
            entity_state = None
        elif state[:1] != b"{":  # a Raw is the value's exact JSON text: an object starts with its brace
            raise RowError("entity_state", f"entity_state must be a JSON object for op {op!r}")
        else:
            entity_state = checked_state(state, self._limits, "entity_state").decode()
        return NewEvent(
            self._tenant(row.tenant_id),
            table_name,
            _check_id(row.entity_id, "entity_id"),
            op,
            entity_state,
            _check_time(moment, "event_timestamp", self._now),
            "" if row.event_id is None else _check_id(row.event_id, "event_id"),
            "" if row.transaction_id is None else "events:" + _check_id(row.transaction_id, "transaction_id"),
        )

    def _tenant(self, text: str | None) -> uuid.UUID:
        caller = self._principal.tenant_id
        if text is None:
            return caller
        tenant = self._tenants.get(text)
        if tenant is None:
            try:
                tenant = uuid.UUID(text)
            except ValueError:
                raise RowError("tenant_id", "tenant_id must be a UUID") from None
            self._tenants[text] = tenant
        if tenant != caller and not self._principal.is_global_admin:
            raise RowError("tenant_id", "another tenant's events need the global admin role", status=403)
        return tenant


async def parse_events(
    body: bytes, content_type: str | None, principal: Principal, now: datetime, limits: IngestLimits
) -> IngestBatch:
    """Validate the body of ``POST /v1/ingest/events``."""
    converter = _EventConverter(principal, now.astimezone(UTC), limits)
    if body_kind(content_type) == "ndjson":
        texts, lines = _ndjson_rows(body)
        return IngestBatch(await _validate(texts, converter, lines))
    try:
        rows = _EVENT_ROWS.decode(body)
    except msgspec.MsgspecError:
        return IngestBatch(await _validate(_json_rows(body, "events"), converter))
    return IngestBatch(await _validate(rows, converter.checked))
