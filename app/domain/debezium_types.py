"""Kafka Connect / Debezium logical types, decoded into the values the source held (docs/recording.md).

A Debezium envelope with a ``schema`` says, per column of ``before`` / ``after``, its Connect type and logical
name. :func:`row_decoder` turns that schema into a decoder once (the schema repeats with every event of a table);
the decoder maps a row's JSON value, column by column:

- ``org.apache.kafka.connect.data.Decimal`` (base64 two's-complement bytes, ``scale`` parameter) and
  ``io.debezium.data.VariableScaleDecimal`` (``{scale, value}``): a JSON number with the source's digits;
- ``io.debezium.time.Date`` / Connect ``Date`` (days): ``YYYY-MM-DD``;
- ``io.debezium.time.Time`` / Connect ``Time`` (ms), ``MicroTime`` (µs), ``NanoTime`` (ns) since midnight:
  ``HH:MM:SS[.fraction]``;
- ``io.debezium.time.Timestamp`` / Connect ``Timestamp`` (ms), ``MicroTimestamp`` (µs), ``NanoTimestamp`` (ns)
  since the epoch, without zone: ``YYYY-MM-DDTHH:MM:SS[.fraction]`` (PostgreSQL's infinities: ``infinity``);
- ``io.debezium.time.ZonedTimestamp`` / ``ZonedTime``, ``io.debezium.data.Uuid``: the string as sent;
- ``io.debezium.data.Json``: the JSON document itself (not a string holding it);
- ``io.debezium.data.geometry.Point`` (``{x, y, wkb, srid}``), ``Geometry`` and ``Geography`` (``{wkb, srid}``):
  GeoJSON, read from the WKB (ISO and PostGIS EWKB, 2D/3D; M values are dropped), so the map draws them;
- structs and arrays: their fields and items, each by its own schema. Any other value is kept as sent.

A value that does not fit its logical type is kept as sent, not refused: the sink must never stall on it.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from playback.instants import EPOCH

Decode = Callable[[Any], Any]

_EPOCH_DATE = date(1970, 1, 1)
# What Debezium sends for PostgreSQL's +/- infinity timestamps (as the PostgreSQL JDBC driver does), in ms.
_INFINITY_MS = 9223372036825200000
_MINUS_INFINITY_MS = -9223372036832400000


def _unscaled(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(raw, "big", signed=True)


def _decimal(scale: int) -> Decode:
    def decode(value: Any) -> Any:
        unscaled = _unscaled(value)
        return value if unscaled is None else Decimal(unscaled).scaleb(-scale)

    return decode


def _variable_scale_decimal(value: Any) -> Any:
    if not isinstance(value, dict) or not isinstance(value.get("scale"), int):
        return value
    unscaled = _unscaled(value.get("value"))
    return value if unscaled is None else Decimal(unscaled).scaleb(-value["scale"])


def _fraction(nanos: int) -> str:
    """``.123`` for 123,000,000 ns; nothing for 0 (as PostgreSQL prints times)."""
    return f".{nanos:09d}".rstrip("0") if nanos else ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _time(per_second: int) -> Decode:
    def decode(value: Any) -> Any:
        if not _is_int(value) or not 0 <= value <= 86_400 * per_second:
            return value
        seconds, rest = divmod(value, per_second)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{hours:02d}:{minutes:02d}:{seconds:02d}{_fraction(rest * (1_000_000_000 // per_second))}"

    return decode


def _timestamp(per_second: int) -> Decode:
    def decode(value: Any) -> Any:
        if not _is_int(value):
            return value
        if per_second == 1000 and value in {_INFINITY_MS, _MINUS_INFINITY_MS}:
            return "infinity" if value > 0 else "-infinity"
        seconds, rest = divmod(value, per_second)
        try:
            moment = EPOCH + timedelta(seconds=seconds)
        except OverflowError:
            return value
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(rest * (1_000_000_000 // per_second))

    return decode


def _date(value: Any) -> Any:
    if not _is_int(value):
        return value
    try:
        return (_EPOCH_DATE + timedelta(days=value)).isoformat()
    except OverflowError:
        return value


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return msgspec.Raw(msgspec.json.encode(msgspec.json.decode(value)))
    except msgspec.DecodeError:
        return value


class _Wkb:
    """A reader of (E)WKB bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def _unpack(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        values = struct.unpack_from(fmt, self._data, self._at)
        self._at += size
        return values

    def geometry(self) -> dict[str, Any]:
        (order,) = self._unpack("B")
        endian = "<" if order == 1 else ">"
        (kind,) = self._unpack(endian + "I")
        has_z = bool(kind & 0x80000000)
        has_m = bool(kind & 0x40000000)
        if kind & 0x20000000:  # PostGIS EWKB: an SRID follows
            self._unpack(endian + "I")
        kind &= 0x0FFFFFFF
        dimensions, kind = divmod(kind, 1000)  # ISO WKB: 1000 Z, 2000 M, 3000 ZM
        has_z = has_z or dimensions in {1, 3}
        has_m = has_m or dimensions in {2, 3}
        width = 2 + has_z + has_m
        point_format = endian + "d" * width

        def point() -> list[float]:
            values = self._unpack(point_format)
            return list(values[: 3 if has_z else 2])

        def points() -> list[list[float]]:
            (count,) = self._unpack(endian + "I")
            return [point() for _ in range(count)]

        def rings() -> list[list[list[float]]]:
            (count,) = self._unpack(endian + "I")
            return [points() for _ in range(count)]

        def parts() -> list[dict[str, Any]]:
            (count,) = self._unpack(endian + "I")
            return [self.geometry() for _ in range(count)]

        if kind == 1:
            return {"type": "Point", "coordinates": point()}
        if kind == 2:
            return {"type": "LineString", "coordinates": points()}
        if kind == 3:
            return {"type": "Polygon", "coordinates": rings()}
        if kind == 4:
            return {"type": "MultiPoint", "coordinates": [g["coordinates"] for g in parts()]}
        if kind == 5:
            return {"type": "MultiLineString", "coordinates": [g["coordinates"] for g in parts()]}
        if kind == 6:
            return {"type": "MultiPolygon", "coordinates": [g["coordinates"] for g in parts()]}
        if kind == 7:
            return {"type": "GeometryCollection", "geometries": parts()}
        raise ValueError(f"unknown WKB geometry type {kind}")


def wkb_to_geojson(data: bytes) -> dict[str, Any]:
    """The GeoJSON geometry of (E)WKB bytes; a ValueError when they are not WKB."""
    try:
        return _Wkb(data).geometry()
    except struct.error:
        raise ValueError("truncated WKB") from None


def _geometry(value: Any) -> Any:
    if not isinstance(value, dict) or not isinstance(value.get("wkb"), str):
        return value
    try:
        return wkb_to_geojson(base64.b64decode(value["wkb"], validate=True))
    except (binascii.Error, ValueError):
        return value


def _point(value: Any) -> Any:
    if isinstance(value, dict):
        x, y = value.get("x"), value.get("y")
        if isinstance(x, int | float) and isinstance(y, int | float):
            return {"type": "Point", "coordinates": [x, y]}
    return _geometry(value)


_CONNECT = "org.apache.kafka.connect.data."
_TIME = "io.debezium.time."
_DATA = "io.debezium.data."
_BY_NAME: dict[str, Decode] = {
    _DATA + "VariableScaleDecimal": _variable_scale_decimal,
    _CONNECT + "Date": _date,
    _TIME + "Date": _date,
    _CONNECT + "Time": _time(1000),
    _TIME + "Time": _time(1000),
    _TIME + "MicroTime": _time(1_000_000),
    _TIME + "NanoTime": _time(1_000_000_000),
    _CONNECT + "Timestamp": _timestamp(1000),
    _TIME + "Timestamp": _timestamp(1000),
    _TIME + "MicroTimestamp": _timestamp(1_000_000),
    _TIME + "NanoTimestamp": _timestamp(1_000_000_000),
    _DATA + "Json": _json,
    _DATA + "geometry.Point": _point,
    _DATA + "geometry.Geometry": _geometry,
    _DATA + "geometry.Geography": _geometry,
}


def _decoder(schema: Any) -> Decode | None:
    """The decoder of a value of this schema; None when its values are kept as sent."""
    if not isinstance(schema, dict):
        return None
    name = schema.get("name")
    if name == _CONNECT + "Decimal":
        scale = (schema.get("parameters") or {}).get("scale", "0")
        try:
            return _decimal(int(scale))
        except (TypeError, ValueError):
            return None
    if isinstance(name, str) and name in _BY_NAME:
        return _BY_NAME[name]
    kind = schema.get("type")
    if kind == "struct" and isinstance(schema.get("fields"), list):
        return _struct(schema["fields"])
    if kind == "array":
        items = _decoder(schema.get("items"))
        if items is not None:
            item_decoder = items
            return lambda value: [item_decoder(v) for v in value] if isinstance(value, list) else value
    return None


def _struct(fields: list[Any]) -> Decode | None:
    decoders = {
        field["field"]: decoder
        for field in fields
        if isinstance(field, dict) and isinstance(field.get("field"), str)
        if (decoder := _decoder(field)) is not None
    }
    if not decoders:
        return None

    def decode(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {
            key: (decoders[key](item) if key in decoders and item is not None else item) for key, item in value.items()
        }

    return decode


def row_decoder(envelope_schema: Any, field: str) -> Decode | None:
    """The decoder of the envelope's ``before`` or ``after`` row; None when the row needs no decoding."""
    if not isinstance(envelope_schema, dict):
        return None
    for candidate in envelope_schema.get("fields") or ():
        if isinstance(candidate, dict) and candidate.get("field") == field:
            return _decoder(candidate)
    return None
