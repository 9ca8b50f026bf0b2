"""Every error answer has the envelope of SPEC section 7, every answer a correlation id, and no stack trace or
exception text ever reaches a client."""

import re
import uuid

import asyncpg

from app import errors
from playback import errors as engine
from tests.support import bearer, make_token

UUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "sent_at"}
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["is_retryable"], bool)
    assert error["correlation_id"] == response.headers["X-Correlation-ID"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["sent_at"])
    return error


async def test_an_unknown_route_is_404_not_found_in_the_envelope(server):
    async with server.client() as client:
        response = await client.get("/no/such/route")
    error = assert_error(response, 404, "NOT_FOUND")
    assert error["is_retryable"] is False


async def test_a_wrong_method_is_405_method_not_allowed_naming_the_allowed_ones(server):
    async with server.client() as client:
        response = await client.delete("/admin/settings", headers=bearer(make_token(admin=True)))
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert {"GET", "PUT"} <= allowed


async def test_a_body_over_the_limit_is_413_payload_too_large(settings, start_server):
    too_big = b'{"max_active_sessions": 5, "padding": "' + b"x" * 2048 + b'"}'

    async def chunks():
        yield too_big[:1000]
        yield too_big[1000:]

    async with start_server(settings.replace(max_body_bytes=1024)) as running, running.client() as client:
        admin = bearer(make_token(admin=True))
        declared = await client.put("/admin/settings", content=too_big, headers=admin)
        streamed = await client.put("/admin/settings", content=chunks(), headers=admin)
        settings_after = await client.get("/admin/settings", headers=admin)
    for response in (declared, streamed):
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert settings_after.json()["data"]["max_active_sessions"] == 10


async def test_a_client_correlation_id_is_echoed_in_the_header_and_the_error_body(server):
    given = "req-42.abc:DEF_9"
    async with server.client() as client:
        ok = await client.get("/readiness", headers={"X-Correlation-ID": given})
        failed = await client.get("/admin/settings", headers={"X-Correlation-ID": given})
    assert ok.status_code == 200
    assert ok.headers["X-Correlation-ID"] == given
    assert failed.headers["X-Correlation-ID"] == given
    assert assert_error(failed, 401, "UNAUTHORIZED")["correlation_id"] == given


async def test_an_answer_without_a_client_correlation_id_gets_a_generated_one(server):
    async with server.client() as client:
        first = await client.get("/readiness")
        second = await client.get("/readiness")
    assert UUID_PATTERN.match(first.headers["X-Correlation-ID"])
    assert first.headers["X-Correlation-ID"] != second.headers["X-Correlation-ID"]


async def test_a_malformed_correlation_id_is_replaced_by_a_generated_one(server):
    malformed = ["x" * 129, "has spaces", "semi;colon", "<script>", 'quote"d']
    async with server.client() as client:
        for given in malformed:
            response = await client.get("/admin/settings", headers={"X-Correlation-ID": given})
            error = assert_error(response, 401, "UNAUTHORIZED")
            assert UUID_PATTERN.match(error["correlation_id"]), given
            assert given not in response.text
        longest = "y" * 128
        response = await client.get("/readiness", headers={"X-Correlation-ID": longest})
        assert response.headers["X-Correlation-ID"] == longest


async def test_an_unexpected_server_error_is_500_without_internals(server, database_url):
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DROP TABLE settings")
    finally:
        await conn.close()
    correlation_id = str(uuid.uuid4())
    async with server.client() as client:
        response = await client.put(
            "/admin/settings",
            json={"max_active_sessions": 5},
            headers={**bearer(make_token(admin=True)), "X-Correlation-ID": correlation_id},
        )
    error = assert_error(response, 500, "INTERNAL_SERVER_ERROR")
    assert error["correlation_id"] == correlation_id
    assert error["is_retryable"] is False
    for leak in ("Traceback", "asyncpg", "UndefinedTable", 'relation "settings"', "File ", ".py"):
        assert leak not in response.text
        assert all(leak not in value for value in response.headers.values())


def test_every_refusal_crosses_replicas_as_its_code_and_comes_back_as_its_own_class():

    kinds = [engine.AlreadyPlayingError, engine.NotPlayingError, engine.SessionEndedError, engine.InvalidSpeedError]
    kinds += [errors.SessionInactiveError, errors.ForbiddenError, errors.NotOwnerError, errors.ResourceNotFoundError]
    for kind in kinds:
        again = errors.refusal(errors.refusal_code(kind("refused")), "refused")
        assert type(again) is kind
        assert errors.answer_of(again) == errors.answer_of(kind("refused"))
        assert errors.answer_of(again).status < 500 or errors.answer_of(again).retryable
    assert type(errors.refusal("SOMETHING_NEWER", "refused")) is errors.NotOwnerError


def test_engine_refusals_have_the_protocol_codes():

    assert errors.answer_of(engine.NotPlayingError("x")).ws_code == "NOT_ALLOWED"
    assert errors.answer_of(engine.InvalidSpeedError("x")).ws_code == "INVALID_SPEED"
    assert errors.answer_of(engine.PositionOutOfRangeError("x")).ws_code == "INVALID_TIMESTAMP"
