import re
from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from playback.messages import (
    BAD_MESSAGE,
    UNKNOWN_TYPE,
    Auth,
    ClientMessageError,
    Ended,
    Error,
    Events,
    Hello,
    Range,
    Resume,
    Seek,
    Speed,
    Start,
    State,
    Status,
    Stop,
    decode_client,
    encode,
    encode_events,
    format_timestamp,
    to_micros,
)
from tests.playback.build import event

START = 1_700_000_000 * 1_000_000


def as_json(message) -> dict:
    return msgspec.json.decode(encode(message))


@pytest.mark.parametrize(
    "message",
    [
        Auth(token="abc"),
        Start(),
        Start(speed=2.5, id="req-1"),
        Stop(id=7),
        Seek(timestamp=datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC), id="s"),
        Speed(speed=1000.0),
        Resume(seq=0),
        Resume(seq=123_456, id=1),
    ],
)
def test_client_messages_round_trip(message):
    assert decode_client(msgspec.json.encode(message)) == message


def test_every_client_message_is_tagged_with_its_type():
    assert msgspec.json.decode(msgspec.json.encode(Stop())) == {"type": "stop"}
    assert decode_client('{"type":"start","speed":2}') == Start(speed=2.0)


def test_seek_timestamps_need_a_zone_and_give_microseconds():
    seek = decode_client('{"type":"seek","timestamp":"2023-11-15T06:13:20.000001+08:00"}')
    assert isinstance(seek, Seek)
    assert seek.position == START + 1


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"type":"seek","timestamp":"2024-01-01T00:00:00"}', "`$.timestamp`"),
        ('{"type":"seek","timestamp":"yesterday"}', "`$.timestamp`"),
        ('{"type":"seek"}', "missing required field `timestamp`"),
        ('{"type":"speed","speed":"fast"}', "`$.speed`"),
        ('{"type":"resume","seq":-1}', "`$.seq`"),
        ('{"type":"start","id":{"x":1}}', "`$.id`"),
        ('{"type":"start","id":"' + "x" * 200 + '"}', "`$.id`"),
        ('{"type":"auth"}', "missing required field `token`"),
        ('{"speed":2}', "missing required field `type`"),
        ("[1,2]", "Expected `object`"),
        ("{not json", "malformed"),
        ("", "truncated"),
    ],
)
def test_a_malformed_client_message_raises_bad_message_naming_the_path(text, fragment):
    with pytest.raises(ClientMessageError, match=re.escape(fragment)) as raised:
        decode_client(text)
    assert raised.value.code == BAD_MESSAGE


@pytest.mark.parametrize(
    "text",
    ['{"type":"stop","force":true}', '{"type":"start","speed":1,"loop":true}', '{"type":"auth","token":"t","x":1}'],
)
def test_unknown_fields_of_client_messages_are_rejected(text):
    with pytest.raises(ClientMessageError, match="unknown field") as raised:
        decode_client(text)
    assert raised.value.code == BAD_MESSAGE


@pytest.mark.parametrize("text", ['{"type":"pause"}', '{"type":"hello"}', '{"type":"events","seq":1}'])
def test_a_message_of_an_unknown_type_is_told_apart(text):
    with pytest.raises(ClientMessageError, match="unknown message type") as raised:
        decode_client(text)
    assert raised.value.code == UNKNOWN_TYPE


def test_hello_has_the_shape_of_the_spec():
    hello = Hello(
        session_id="s-1",
        state="paused",
        speed=1.0,
        position=format_timestamp(START),
        range_=Range(start=format_timestamp(START), end=format_timestamp(START + 3_600_000_000)),
    )
    assert as_json(hello) == {
        "type": "hello",
        "session_id": "s-1",
        "protocol": 1,
        "state": "paused",
        "speed": 1.0,
        "position": "2023-11-14T22:13:20Z",
        "range": {"start": "2023-11-14T22:13:20Z", "end": "2023-11-14T23:13:20Z"},
    }


def test_events_frames_splice_pre_encoded_events_and_say_conflated_only_when_true():
    body = encode_events([event(1, START + 5, "a", "u", state={"lon": 103.8}), event(2, START + 6, "b", "d")])
    plain = as_json(Events(seq=4, from_="2023-11-14T22:13:20Z", to="2023-11-14T22:13:20.000010Z", events=body))
    assert plain == {
        "type": "events",
        "seq": 4,
        "from": "2023-11-14T22:13:20Z",
        "to": "2023-11-14T22:13:20.000010Z",
        "events": [
            {
                "entity_id": "a",
                "table_name": "public.vehicles",
                "op": "u",
                "entity_state": {"lon": 103.8},
                "event_timestamp": "2023-11-14T22:13:20.000005Z",
            },
            {
                "entity_id": "b",
                "table_name": "public.vehicles",
                "op": "d",
                "entity_state": None,
                "event_timestamp": "2023-11-14T22:13:20.000006Z",
            },
        ],
    }
    conflated = as_json(Events(seq=5, from_="a", to="b", events=encode_events([]), conflated=True))
    assert conflated["conflated"] is True
    assert conflated["events"] == []


def test_server_messages_have_the_shapes_of_the_spec():
    assert as_json(State(seq=1, timestamp="t", entities=encode_events([]), chunk=1, chunks=1)) == {
        "type": "state",
        "seq": 1,
        "timestamp": "t",
        "entities": [],
        "chunk": 1,
        "chunks": 1,
    }
    assert as_json(Status(state="playing", position="p", speed=2.0)) == {
        "type": "status",
        "state": "playing",
        "position": "p",
        "speed": 2.0,
    }
    assert as_json(Status(state="paused", position="p", speed=2.0, reply_to="r1"))["reply_to"] == "r1"
    assert as_json(Ended(position="p")) == {"type": "ended", "position": "p"}
    assert as_json(Error(code="INVALID_SPEED", message="m", reply_to=3)) == {
        "type": "error",
        "code": "INVALID_SPEED",
        "message": "m",
        "reply_to": 3,
    }
    assert "reply_to" not in as_json(Error(code="BAD_MESSAGE", message="m"))


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (START, "2023-11-14T22:13:20Z"),
        (START + 1, "2023-11-14T22:13:20.000001Z"),
        (START + 120_000, "2023-11-14T22:13:20.120000Z"),
        (-1, "1969-12-31T23:59:59.999999Z"),
    ],
)
def test_timestamps_are_rfc3339_utc_with_a_z(micros, text):
    assert format_timestamp(micros) == text


@given(st.integers(min_value=-(10**16), max_value=2 * 10**17))
def test_timestamp_formatting_round_trips_through_the_wire(micros):
    assert to_micros(datetime.fromisoformat(format_timestamp(micros))) == micros
