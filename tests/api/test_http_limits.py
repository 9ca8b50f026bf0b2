"""Limits of the HTTP layer, over a raw socket: a request head over ``MSR_HTTP_MAX_HEADER_BYTES`` is a 431 and a body
that does not arrive within ``MSR_HTTP_BODY_TIMEOUT_S`` a 408, both in the error envelope, the connection closed and
nothing of the request done by the application."""

import asyncio
import json
import uuid

import pytest

from tests.api.events import event, everything
from tests.support import RunningServer, make_token, serve

TENANT = uuid.UUID(int=12)
TOKEN = make_token("writer", TENANT)
HEAD_LIMIT = 4096
ANSWER_WAIT_S = 10


def _ingest_head(body_bytes: int, pad: int) -> bytes:
    return (
        f"POST /v1/ingest/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {body_bytes}\r\nX-Pad: {'a' * pad}\r\n\r\n"
    ).encode()


async def _connect(server: RunningServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", int(server.url.rsplit(":", 1)[1]))


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], dict]:
    """The status, headers and JSON body of the one answer before the server closes the connection."""
    raw = await asyncio.wait_for(reader.read(), ANSWER_WAIT_S)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


@pytest.fixture
async def limited(settings):
    async with serve(settings.replace(http_max_header_bytes=HEAD_LIMIT, http_body_timeout_s=1.0)) as running:
        yield running


async def test_a_request_head_within_the_limit_is_served(limited, stored):
    body = json.dumps([event(1)]).encode()
    reader, writer = await _connect(limited)
    writer.write(_ingest_head(len(body), HEAD_LIMIT - 600) + body)
    await writer.drain()
    answer = await asyncio.wait_for(reader.readuntil(b"\r\n"), ANSWER_WAIT_S)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert len(await everything(stored, TENANT)) == 1


@pytest.mark.parametrize("whole", [True, False], ids=["in-one-write", "while-it-arrives"])
async def test_a_request_head_over_the_limit_is_a_431_and_reaches_no_application(limited, stored, whole):
    body = json.dumps([event(1)]).encode()
    request = _ingest_head(len(body), HEAD_LIMIT) + body
    reader, writer = await _connect(limited)
    # In one write the parser sees the whole head at once; in pieces it refuses to buffer past the limit.
    writer.write(request if whole else request[: HEAD_LIMIT + 200])
    await writer.drain()
    status, headers, error = await _answer(reader)
    writer.close()
    assert status == 431
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    assert error["error"]["code"] == "REQUEST_HEADERS_TOO_LARGE"
    assert "MSR_HTTP_MAX_HEADER_BYTES" in error["error"]["message"]
    assert error["error"]["correlation_id"] == headers["x-correlation-id"]
    assert error["error"]["is_retryable"] is False
    assert await everything(stored, TENANT) == []


async def test_a_malformed_request_is_a_400_in_the_envelope(limited):
    reader, writer = await _connect(limited)
    writer.write(b"GET /health HTTP/1.1\r\nHost x\r\n\r\n")
    await writer.drain()
    status, _, error = await _answer(reader)
    writer.close()
    assert status == 400
    assert error["error"]["code"] == "VALIDATION_ERROR"


async def test_a_body_that_does_not_arrive_in_time_is_a_408_and_nothing_is_stored(limited, stored, caplog):
    body = json.dumps([event(1)]).encode()
    reader, writer = await _connect(limited)
    # The head in time, then all but the last byte of the body: the application waits for a body that never ends.
    writer.write(_ingest_head(len(body), 10) + body[:-1])
    await writer.drain()
    status, headers, error = await _answer(reader)
    writer.close()
    assert status == 408
    assert headers["connection"] == "close"
    assert error["error"]["code"] == "REQUEST_TIMEOUT"
    assert "MSR_HTTP_BODY_TIMEOUT_S" in error["error"]["message"]
    assert await everything(stored, TENANT) == []
    # The application saw its client gone: not an error of the server.
    assert not [record for record in caplog.records if record.name == "msr.errors"]
