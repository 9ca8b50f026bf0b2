"""``POST /v1/ingest/debezium``: every message Debezium Server's HTTP sink posts (docs/recording.md).

A body is one value or a JSON array of them (the sink's batch mode), each with its schema
(``{"schema": ..., "payload": ...}``) or bare (the payload alone). Well-formed messages are always answered 2xx,
because the sink retries anything else and a retried message stalls the whole pipeline:

- row changes (``op`` ``c``, ``r``, ``u``, ``d``) are recorded: the table is ``source.schema + "." +
  source.table`` (``source.db`` when there is no schema, as MySQL's), the entity id the key column (``?key=``,
  default ``id``; ``?keys=schema.table:column,...`` per table) of ``after`` (``before`` for ``d``), the state
  ``after`` with its logical types decoded when the schema is given (``app.domain.debezium_types``), the time
  the most precise source time given (``source.ts_ns``, ``ts_us``, then ``ts_ms``), the transaction Debezium's
  ``transaction.id`` (with ``provide.transaction.metadata``), the identity the source's log position;
- a truncate (``op`` ``t``) deletes, at its instant, every entity its table has then (``store.recording``);
- tombstones (a null value or payload), transaction ``BEGIN`` / ``END`` records, heartbeats, logical-decoding
  messages (``op`` ``m``), schema-change events and notifications are skipped and counted, by kind.

Anything else (not JSON, not an object, a row change without its source, table, time or key) is a 400 naming the
message (its 0-based index in the batch) and the field; nothing of the batch is stored. So is a message over
``MSR_MAX_EVENT_BYTES``, and a recorded row (``after``, ``before`` for a delete; as sent, and once its logical types
are decoded) over that size or nesting deeper than ``MSR_MAX_STATE_DEPTH``, as ``POST /v1/ingest/events`` checks its
events (``app.domain.ingest``).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec

from app.domain.debezium_types import Decode, row_decoder
from app.domain.ingest import (
    MAX_ID_CHARS,
    IngestBatch,
    IngestLimits,
    RowError,
    _check_id,
    _check_table_name,
    _check_time,
    _json_rows,
    _required_string,
    _validate,
    body_kind,
    check_event_size,
    checked_state,
)
from app.errors import validation_error
from playback.instants import from_micros
from store.events import NewEvent
from store.recording import TRUNCATE

_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])
_OBJECT_OR_NULL = msgspec.json.Decoder(dict[str, msgspec.Raw] | None)
_ANY = msgspec.json.Decoder()
_SOURCE = msgspec.json.Decoder(dict[str, Any])
# Decimals go out as JSON numbers with the source's digits.
_ENCODER = msgspec.json.Encoder(decimal_format="number")
_ROW_OPS = frozenset("crud")
_DIGITS = re.compile(r"^-?\d{1,20}$")
_COLUMN = r"[A-Za-z_][A-Za-z0-9_$]{0,62}"
_TABLE_KEY = re.compile(rf"^({_COLUMN}(?:\.{_COLUMN})?):({_COLUMN})$")

# Value schema names of the messages that are not row changes (Debezium's SchemaFactory), by suffix.
_SKIPPED_SCHEMAS = (
    ("io.debezium.connector.common.Heartbeat", "heartbeat"),
    ("io.debezium.connector.common.TransactionMetadataValue", "transaction"),
    (".SchemaChangeValue", "schema change"),
    ("io.debezium.connector.common.Notification", "notification"),
)
# Source fields that place a change in the source's log, by connector: PostgreSQL, SQL Server, Oracle, MySQL,
# MongoDB. Together they tell two changes of one row at the same instant apart.
_POSITION_FIELDS = (
    "sequence",
    "lsn",
    "change_lsn",
    "commit_lsn",
    "event_serial_no",
    "scn",
    "commit_scn",
    "rs_id",
    "ssn",
    "gtid",
    "file",
    "pos",
    "row",
    "ord",
)


def parse_keys(text: str | None) -> dict[str, str]:
    """The ``keys`` parameter: ``schema.table:column`` items, comma separated; a 400 naming ``keys`` otherwise."""
    keys: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        match = _TABLE_KEY.match(item.strip())
        if match is None:
            raise validation_error(
                f"keys must be 'schema.table:column' items separated by commas, got {item.strip()[:80]!r}",
                {"field": "keys"},
            )
        keys[match.group(1)] = match.group(2)
    return keys


def _position(source: dict[str, Any]) -> str:
    parts = [f"{name}={source[name]}" for name in _POSITION_FIELDS if source.get(name) is not None]
    position = ";".join(parts)
    if len(position) > MAX_ID_CHARS:
        return "sha256:" + hashlib.sha256(position.encode()).hexdigest()
    return position


def _integer(value: Any) -> int | None:
    """An integer field, also when sent as a string of digits (as some of Debezium's examples show them)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DIGITS.match(value):
        return int(value)
    return None


def _skipped_kind(payload: dict[str, msgspec.Raw], schema_name: str | None) -> str | None:
    """What a message without ``op`` is, when it is one the sink sends; None for anything else."""
    if schema_name:
        for suffix, kind in _SKIPPED_SCHEMAS:
            if schema_name.endswith(suffix):
                return kind
    if "status" in payload and "id" in payload:
        status = bytes(payload["status"])
        if status in {b'"BEGIN"', b'"END"'}:
            return "transaction"
    if "ddl" in payload or "tableChanges" in payload:
        return "schema change"
    if set(payload) == {"ts_ms"}:
        return "heartbeat"
    return None


class _Schema:
    """What one envelope schema says: its name, and the decoders of its ``before`` and ``after`` rows."""

    def __init__(self, raw: msgspec.Raw | None) -> None:
        schema = _ANY.decode(raw) if raw is not None else None
        self.name = schema.get("name") if isinstance(schema, dict) else None
        self.rows: dict[str, Decode | None] = {
            "before": row_decoder(schema, "before"),
            "after": row_decoder(schema, "after"),
        }


class DebeziumConverter:
    """Turns one Debezium message into a :class:`NewEvent` (a truncate is one with op ``t``), or None (skipped)."""

    def __init__(
        self, tenant_id: uuid.UUID, key: str, keys: dict[str, str], now: datetime, limits: IngestLimits
    ) -> None:
        self._tenant_id = tenant_id
        self._key = key
        self._keys = keys
        self._now = now
        self._limits = limits
        self._schemas: dict[bytes, _Schema] = {}
        self.skipped: Counter[str] = Counter()

    def __call__(self, text: msgspec.Raw | bytes) -> NewEvent | None:
        check_event_size(text, self._limits, "the message")
        try:
            envelope = _OBJECT_OR_NULL.decode(text)
        except msgspec.ValidationError:
            raise RowError(None, "a message must be a JSON object") from None
        except msgspec.DecodeError:
            raise RowError(None, "the message is not valid JSON") from None
        schema = self._schema(None)
        payload: dict[str, msgspec.Raw] | None = envelope
        prefix = ""
        if envelope is not None and "payload" in envelope:
            prefix = "payload."
            schema = self._schema(envelope.get("schema"))
            try:
                payload = _OBJECT_OR_NULL.decode(envelope["payload"])
            except msgspec.ValidationError:
                raise RowError("payload", "payload must be a JSON object or null") from None
        if payload is None:
            self.skipped["tombstone"] += 1
            return None
        if "op" not in payload:
            kind = _skipped_kind(payload, schema.name)
            if kind is None:
                raise RowError(
                    prefix + "op",
                    f"{prefix}op is required: the message is neither a row change nor a transaction record, "
                    "heartbeat, schema change or notification",
                )
            self.skipped[kind] += 1
            return None
        op = _required_string(payload, "op", prefix + "op")
        if op == "m":
            self.skipped["message"] += 1
            return None
        if op not in _ROW_OPS and op != TRUNCATE:
            raise RowError(prefix + "op", f"{prefix}op must be one of c, r, u, d, t or m; got {op[:10]!r}")
        source = self._source(payload, prefix + "source")
        table_name = self._table_name(source, prefix + "source")
        moment = self._time(source, prefix + "source")
        txn = self._transaction(payload, source, prefix + "transaction")
        if op == TRUNCATE:
            return NewEvent(self._tenant_id, table_name, "", TRUNCATE, None, moment, _position(source), txn)
        row_name = "before" if op == "d" else "after"
        row_field = prefix + row_name
        raw_row = payload.get(row_name)
        if raw_row is None or bytes(memoryview(raw_row)[:1]) != b"{":
            raise RowError(row_field, f"{row_field} must be the row (a JSON object) for op {op!r}")
        # The row as sent is checked before it is decoded; a row with logical types again once decoded (a JSON
        # column becomes a document of its own).
        sent = checked_state(bytes(raw_row), self._limits, row_field)
        decoder = schema.rows[row_name]
        key = self._keys.get(table_name, self._key)
        if decoder is None:
            # No logical types: the row is stored as sent, and only its key column is decoded.
            key_raw = _OBJECT.decode(sent).get(key)
            row: Any = {key: None if key_raw is None else _ANY.decode(key_raw)}
            state = sent.decode()
        else:
            row = decoder(_ANY.decode(sent))
            state = checked_state(_ENCODER.encode(row), self._limits, row_field).decode()
        return NewEvent(
            self._tenant_id,
            table_name,
            self._entity_id(row, key, row_field),
            op,
            None if op == "d" else state,
            moment,
            _position(source),
            txn,
        )

    def _schema(self, raw: msgspec.Raw | None) -> _Schema:
        text = b"null" if raw is None else bytes(raw)
        schema = self._schemas.get(text)
        if schema is None:
            try:
                schema = _Schema(raw)
            except msgspec.DecodeError:
                raise RowError("schema", "schema is not valid JSON") from None
            self._schemas[text] = schema
        return schema

    def _source(self, payload: dict[str, msgspec.Raw], field: str) -> dict[str, Any]:
        raw = payload.get("source")
        if raw is None:
            raise RowError(field, f"{field} is required")
        try:
            source = _SOURCE.decode(raw)
        except msgspec.ValidationError:
            raise RowError(field, f"{field} must be a JSON object") from None
        return source

    def _table_name(self, source: dict[str, Any], field: str) -> str:
        table = source.get("table")
        if not isinstance(table, str):
            raise RowError(field + ".table", f"{field}.table must be a string")
        schema = source.get("schema")
        if schema is None:
            schema = source.get("db")
        if schema is not None and not isinstance(schema, str):
            raise RowError(field + ".schema", f"{field}.schema must be a string")
        name = f"{schema}.{table}" if schema else table
        return _check_table_name(name, field + ".table")

    def _entity_id(self, row: Any, key: str, field: str) -> str:
        key_field = f"{field}.{key}"
        value = row.get(key) if isinstance(row, dict) else None
        if value is None:
            raise RowError(key_field, f"{key_field} is required (the entity id; choose the column with ?key=)")
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise RowError(key_field, f"{key_field} must be a string or a number")
        return _check_id(str(value), key_field)

    def _time(self, source: dict[str, Any], field: str) -> datetime:
        for name, per_micro in (("ts_ns", 1000), ("ts_us", 1), ("ts_ms", None)):
            value = _integer(source.get(name))
            if value is None:
                continue
            micros = value // per_micro if per_micro else value * 1000
            try:
                moment = from_micros(micros)
            except OverflowError:
                raise RowError(f"{field}.{name}", f"{field}.{name} is out of range") from None
            return _check_time(moment, f"{field}.{name}", self._now)
        raise RowError(f"{field}.ts_ms", f"{field}.ts_ms must be an integer (milliseconds since the epoch)")

    def _transaction(self, payload: dict[str, msgspec.Raw], source: dict[str, Any], field: str) -> str:
        raw = payload.get("transaction")
        if raw is None:
            return ""
        block = _ANY.decode(raw)
        if block is None:
            return ""
        if not isinstance(block, dict) or not isinstance(block.get("id"), str) or not block["id"]:
            raise RowError(field + ".id", f"{field}.id must be a non-empty string")
        # Two connectors may number their transactions alike: the connector's logical name tells them apart.
        return f"debezium:{source.get('name') or ''}:{block['id']}"


def _rows(body: bytes) -> list[msgspec.Raw] | list[bytes]:
    stripped = body.strip()
    if stripped[:1] == b"[":
        return _json_rows(body, "Debezium messages")
    # An empty body is a tombstone, as a JSON null is.
    return [stripped or b"null"]


async def parse_debezium(
    body: bytes,
    content_type: str | None,
    tenant_id: uuid.UUID,
    now: datetime,
    limits: IngestLimits,
    key: str = "id",
    keys: str | None = None,
) -> IngestBatch:
    """Validate the body of ``POST /v1/ingest/debezium``: one message or a JSON array of them."""
    if body_kind(content_type) != "json":
        raise validation_error("send Debezium messages as application/json")
    converter = DebeziumConverter(tenant_id, key, parse_keys(keys), now.astimezone(UTC), limits)
    events = await _validate(_rows(body), converter)
    return IngestBatch(events, sum(converter.skipped.values()), dict(converter.skipped))
