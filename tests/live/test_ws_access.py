"""Who may attach to a session's playback, and how: a bearer header or an ``auth`` first message within the
timeout, the Origin allow-list, the owner controls, an admin of the tenant watches read-only, others are refused
with a documented close code; a session terminated over REST tells its viewers and closes them."""

import uuid

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.live.support import OTHER_TENANT, TENANT, Watcher, new_session, of_type, open_socket
from tests.support import bearer, make_token, serve

OWNER = make_token("viewer-1", TENANT)


async def session_of(server, user="viewer-1"):
    async with server.client() as client:
        return await new_session(client, user)


async def refused(server, session_id, token, **kwargs) -> tuple[dict, int]:
    async with open_socket(server.url, session_id, token, **kwargs) as ws:
        watcher = Watcher(ws)
        error = await watcher.until(of_type("error"))
        with pytest.raises(ConnectionClosed) as closed:
            await watcher.recv()
    return error, closed.value.rcvd.code


async def test_a_browser_authenticates_with_its_first_message(live_server, history):
    session_id = await session_of(live_server)
    async with open_socket(live_server.url, session_id, None) as ws:
        watcher = Watcher(ws, history)
        await watcher.send(type="auth", token=OWNER)
        assert (await watcher.recv())["type"] == "hello"
        await watcher.state_complete()
        watcher.assert_picture_true()


async def test_no_auth_message_in_time_closes_with_4401(live_server):
    session_id = await session_of(live_server)
    async with open_socket(live_server.url, session_id, None) as ws:
        watcher = Watcher(ws)
        error = await watcher.until(of_type("error"), timeout=5)
        with pytest.raises(ConnectionClosed) as closed:
            await watcher.recv()
    assert error["code"] == "UNAUTHORIZED"
    assert closed.value.rcvd.code == 4401


async def test_a_bad_token_closes_with_4401(live_server):
    session_id = await session_of(live_server)
    for token in [
        "not-a-token",
        make_token("viewer-1", TENANT, secret="another-secret-that-is-long-enough-for-hs256-xx"),
        make_token("viewer-1", TENANT, ttl=-3600),
    ]:
        error, code = await refused(live_server, session_id, token)
        assert (error["code"], code) == ("UNAUTHORIZED", 4401), token


async def test_a_first_message_that_is_not_auth_closes_with_4401(live_server):
    session_id = await session_of(live_server)
    async with open_socket(live_server.url, session_id, None) as ws:
        watcher = Watcher(ws)
        await watcher.send(type="start")
        error = await watcher.until(of_type("error"))
        with pytest.raises(ConnectionClosed) as closed:
            await watcher.recv()
    assert (error["code"], closed.value.rcvd.code) == ("UNAUTHORIZED", 4401)


async def test_another_users_session_is_refused_with_4403(live_server):
    error, code = await refused(live_server, await session_of(live_server), make_token("intruder", TENANT))
    assert (error["code"], code) == ("FORBIDDEN", 4403)


async def test_a_session_the_caller_cannot_see_is_refused_with_4404(live_server):
    cases = [
        (str(uuid.uuid4()), make_token("viewer-1", TENANT)),
        ("not-a-uuid", make_token("viewer-1", TENANT)),
        (await session_of(live_server), make_token("viewer-1", OTHER_TENANT)),
    ]
    for session_id, token in cases:
        error, code = await refused(live_server, session_id, token)
        assert (error["code"], code) == ("NOT_FOUND", 4404), session_id


async def test_an_admin_of_the_tenant_watches_read_only(live_server, history):
    session_id = await session_of(live_server)
    admin = make_token("boss", TENANT, admin=True)
    async with open_socket(live_server.url, session_id, admin) as ws:
        watcher = Watcher(ws, history)
        await watcher.state_complete()
        watcher.assert_picture_true()
        await watcher.send(type="start", id="try")
        error = await watcher.until(of_type("error"))
    assert (error["code"], error["reply_to"]) == ("FORBIDDEN", "try")


async def test_a_foreign_origin_is_refused_at_the_handshake(live_server):
    session_id = await session_of(live_server)
    with pytest.raises(InvalidStatus) as refused_handshake:
        async with open_socket(live_server.url, session_id, OWNER, origin="https://evil.example"):
            pass
    assert refused_handshake.value.response.status_code == 403


async def test_the_same_origin_is_accepted_without_an_allow_list(live_server):
    session_id = await session_of(live_server)
    host = live_server.url.removeprefix("http://")
    async with open_socket(live_server.url, session_id, OWNER, origin=f"http://{host}") as ws:
        assert (await Watcher(ws).recv())["type"] == "hello"


async def test_a_listed_origin_is_accepted(live_settings, history):
    async with serve(live_settings.replace(allowed_origins=("https://ui.example",))) as server:
        session_id = await session_of(server)
        async with open_socket(server.url, session_id, OWNER, origin="https://ui.example") as ws:
            assert (await Watcher(ws).recv())["type"] == "hello"
        with pytest.raises(InvalidStatus):
            async with open_socket(server.url, session_id, OWNER, origin="https://other.example"):
                pass


async def test_terminating_the_session_tells_its_viewers_and_closes_them(live_server, history):
    session_id = await session_of(live_server)
    async with open_socket(live_server.url, session_id, OWNER) as ws:
        watcher = Watcher(ws, history)
        await watcher.state_complete()
        await watcher.send(type="start", speed=2)
        async with live_server.client() as client:
            response = await client.post(f"/session/{session_id}/terminate", headers=bearer(OWNER))
        assert response.status_code == 204
        error = await watcher.until(of_type("error"))
        with pytest.raises(ConnectionClosed) as closed:
            await watcher.until(lambda m: False)
    assert error["code"] == "SESSION_INACTIVE"
    assert closed.value.rcvd.code == 4409
    # An INACTIVE session cannot be attached to again.
    error, code = await refused(live_server, session_id, OWNER)
    assert (error["code"], code) == ("SESSION_INACTIVE", 4409)


async def test_an_attached_viewer_keeps_its_session_alive(live_settings, history):
    async with serve(live_settings.replace(session_idle_timeout_s=1.0)) as server:
        session_id = await session_of(server)
        async with open_socket(server.url, session_id, OWNER) as ws:
            watcher = Watcher(ws, history)
            await watcher.state_complete()
            # Three idle timeouts pass with nothing but the attached viewer: the session stays ACTIVE.
            with pytest.raises(TimeoutError):
                await watcher.until(of_type("error"), timeout=3.0)
        async with server.client() as client:
            listed = await client.get("/admin/sessions", headers=bearer(make_token("boss", TENANT, admin=True)))
        [row] = [s for s in listed.json()["data"] if s["id"] == session_id]
        assert row["status"] == "ACTIVE"
