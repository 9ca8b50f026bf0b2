"""Debezium's logical types decoded, checked against encoders written from Kafka Connect's and OGC's definitions
on random values (pure: no server)."""

import base64
import struct
from datetime import date, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.domain.debezium_types import row_decoder, wkb_to_geojson


def decode(name, value, **schema):
    envelope = {"fields": [{"field": "after", "type": "struct", "fields": [{"field": "v", "name": name, **schema}]}]}
    decoder = row_decoder(envelope, "after")
    assert decoder is not None
    return decoder({"v": value})["v"]


def connect_decimal(unscaled: int) -> str:
    """Kafka Connect's Decimal: the unscaled value as big-endian two's-complement bytes, base64 in JSON."""
    return base64.b64encode(unscaled.to_bytes(max(1, (unscaled.bit_length() + 8) // 8), "big", signed=True)).decode()


@given(unscaled=st.integers(-(10**40), 10**40), scale=st.integers(0, 12))
def test_decimals_keep_every_digit(unscaled, scale):
    value = decode("org.apache.kafka.connect.data.Decimal", connect_decimal(unscaled), parameters={"scale": str(scale)})
    assert value == Decimal(unscaled).scaleb(-scale)
    variable = decode("io.debezium.data.VariableScaleDecimal", {"scale": scale, "value": connect_decimal(unscaled)})
    assert variable == value


@given(moment=st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1)))
def test_timestamps_dates_and_times_read_as_the_column_held_them(moment):
    micros = (moment - datetime(1970, 1, 1)) // timedelta(microseconds=1)
    text = decode("io.debezium.time.MicroTimestamp", micros)
    assert datetime.fromisoformat(text) == moment
    assert datetime.fromisoformat(decode("io.debezium.time.NanoTimestamp", micros * 1000)) == moment
    millis = decode("io.debezium.time.Timestamp", micros // 1000)
    assert datetime.fromisoformat(millis) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    days = (moment.date() - date(1970, 1, 1)).days
    assert decode("io.debezium.time.Date", days) == moment.date().isoformat()
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    since = (moment - midnight) // timedelta(microseconds=1)
    assert datetime.fromisoformat(f"2000-01-01T{decode('io.debezium.time.MicroTime', since)}").time() == moment.time()


def test_a_value_that_does_not_fit_its_type_is_kept_as_sent():
    assert decode("org.apache.kafka.connect.data.Decimal", "not base64!", parameters={"scale": "2"}) == "not base64!"
    assert decode("io.debezium.time.Date", "2024-01-15") == "2024-01-15"
    assert decode("io.debezium.data.Json", "{not json") == "{not json"
    assert decode("io.debezium.data.geometry.Geometry", {"wkb": base64.b64encode(b"\x01\x09").decode()}) == {
        "wkb": "AQk="
    }


coordinates = st.floats(-180, 180, allow_nan=False)
points = st.lists(coordinates, min_size=2, max_size=3)


def wkb(kind: int, body: bytes, endian: str, z: bool, srid: int | None) -> bytes:
    code = kind | (0x80000000 if z else 0) | (0x20000000 if srid is not None else 0)
    head = struct.pack(endian + "BI", 1 if endian == "<" else 0, code)
    return head + (struct.pack(endian + "I", srid) if srid is not None else b"") + body


@given(
    line=st.lists(st.tuples(coordinates, coordinates, coordinates), min_size=2, max_size=6),
    endian=st.sampled_from("<>"),
    z=st.booleans(),
    srid=st.none() | st.just(4326),
)
def test_wkb_lines_points_and_collections_become_geojson(line, endian, z, srid):
    width = 3 if z else 2

    def body(points):
        return struct.pack(endian + "I", len(points)) + b"".join(
            struct.pack(endian + "d" * width, *p[:width]) for p in points
        )

    expected = [list(p[:width]) for p in line]
    assert wkb_to_geojson(wkb(2, body(line), endian, z, srid)) == {"type": "LineString", "coordinates": expected}
    point = wkb(1, struct.pack(endian + "d" * width, *line[0][:width]), endian, z, None)
    collection = wkb(4, struct.pack(endian + "I", 2) + point + point, endian, z, srid)
    assert wkb_to_geojson(collection) == {"type": "MultiPoint", "coordinates": [expected[0], expected[0]]}
    polygon = wkb(3, struct.pack(endian + "I", 1) + body([*line, line[0]]), endian, z, srid)
    assert wkb_to_geojson(polygon) == {"type": "Polygon", "coordinates": [[*expected, expected[0]]]}
