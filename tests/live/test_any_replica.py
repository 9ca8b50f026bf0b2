"""Control from any replica: two real replicas on one PostgreSQL and one Redis; a session is played (owned) by
replica A with a viewer on each replica, and every control is driven once through A (the owner) and once through
B (which does not own the clock). Both runs must answer the same status codes and error codes, and have the same
effect on the viewers of both replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from app.settings import Settings
from tests.live.support import TENANT, History, Watcher, ingest, new_session, of_type, open_socket, rfc3339
from tests.support import RunningServer, bearer, make_token

OPERATOR = "operator-1"
USER = bearer(make_token(OPERATOR, TENANT))
ADMIN = bearer(make_token("boss", TENANT, admin=True))
WAIT_S = 10.0


@dataclass
class Pair:
    owner: RunningServer
    other: RunningServer


@pytest.fixture
async def pair(
    live_settings: Settings, history: History, start_server: Callable[[Settings], Any]
) -> AsyncIterator[Pair]:
    async with start_server(live_settings) as a, start_server(live_settings) as b:
        async with a.client() as client:
            await ingest(client, history)
        yield Pair(a, b)


@dataclass
class Stage:
    """A session owned by replica A, with a viewer on each replica, and the replica to drive it through."""

    session_id: str
    via: httpx.AsyncClient
    viewers: list[Watcher]
    sockets_of: RunningServer
    seen: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    """Messages a viewer received while its command waited for the answer, by the viewer's id()."""


async def _viewer(server: RunningServer, session_id: str, history: History, user: str) -> Watcher:
    ws = await open_socket(server.url, session_id, make_token(user, TENANT))
    watcher = Watcher(ws, history)
    await watcher.state_complete()
    return watcher


async def _effect(watcher: Watcher, predicate: Callable[[dict[str, Any]], bool]) -> str:
    """The first message that matches, summarised; or how the connection ended instead."""
    try:
        message = await watcher.until(predicate, WAIT_S)
    except ConnectionClosed as closed:
        return f"closed {closed.rcvd.code if closed.rcvd else None}"
    except TimeoutError:
        return "nothing"
    return f"{message['type']} {message.get('state') or message.get('code')}"


async def _closing(watcher: Watcher) -> tuple[str, str]:
    """The error a terminated session's viewer gets, and the close code that follows."""
    error = await _effect(watcher, of_type("error"))
    return error, await _effect(watcher, lambda m: False)


async def _states(stage: Stage, state: str) -> list[str]:
    """What each viewer was told about the clock: the first ``status`` of ``state`` it got."""
    wanted = of_type("status", state=state)

    async def effect(viewer: Watcher) -> str:
        seen = stage.seen.pop(id(viewer), [])
        if any(wanted(message) and "reply_to" not in message for message in seen):
            return f"status {state}"
        return await _effect(viewer, wanted)

    return list(await asyncio.gather(*(effect(v) for v in stage.viewers)))


def _answer(response: httpx.Response) -> tuple[int, str | None, str | None]:
    body = response.json() if response.content else {}
    error = body.get("error", {}).get("code") if isinstance(body, dict) else None
    status = body.get("data", {}).get("status") if isinstance(body.get("data"), dict) else None
    return response.status_code, error, status


async def _replay(pair: Pair, history: History, client: httpx.AsyncClient) -> str:
    """A playing replay of the tenant, owned by replica A (the replica that started it)."""
    start = history.first + timedelta(seconds=1)
    body = {
        "replay_requested_timestamp": rfc3339(start),
        "replay_end_timestamp": rfc3339(start + timedelta(seconds=15)),
    }
    replay = await client.post("/v1/replay/init", json=body, headers=USER)
    assert replay.status_code == 201, replay.text
    replay_id = str(replay.json()["data"]["id"])
    started = await client.put(f"/v1/replay/{replay_id}/start", json={"replay_speed": 0.5}, headers=USER)
    assert started.status_code == 200, started.text
    return replay_id


Scenario = Callable[[Stage], Awaitable[list[object]]]


async def _run(pair: Pair, history: History, through_owner: bool, scenario: Scenario, *, rnr: bool) -> list[object]:
    async with AsyncExitStack() as stack:
        owner = await stack.enter_async_context(pair.owner.client())
        other = await stack.enter_async_context(pair.other.client())
        if rnr:
            session_id = await _replay(pair, history, owner)
        else:
            session_id = await new_session(owner, OPERATOR)
        viewers = [await _viewer(pair.owner, session_id, history, OPERATOR)]
        viewers.append(await _viewer(pair.other, session_id, history, OPERATOR))
        for viewer in viewers:
            stack.push_async_callback(viewer.ws.close)
        stage = Stage(session_id, owner if through_owner else other, viewers, pair.owner)
        result = await scenario(stage)
        if rnr:
            # Leave the tenant without a live replay for the next run.
            await owner.post("/v1/replay/reset", json={}, headers=ADMIN)
        return result


async def _same_through_both(pair: Pair, history: History, scenario: Scenario, *, rnr: bool = True) -> list[object]:
    through_owner = await _run(pair, history, True, scenario, rnr=rnr)
    through_other = await _run(pair, history, False, scenario, rnr=rnr)
    assert through_other == through_owner
    return through_owner


async def test_rest_start_and_stop_answer_the_same_through_a_replica_that_does_not_own_the_replay(pair, history):
    async def scenario(stage: Stage) -> list[object]:
        url = f"/v1/replay/{stage.session_id}"
        faster = _answer(await stage.via.put(f"{url}/start", json={"replay_speed": 2}, headers=USER))
        stopped = _answer(await stage.via.put(f"{url}/stop", headers=USER))
        paused = await _states(stage, "paused")
        again = _answer(await stage.via.put(f"{url}/stop", headers=USER))
        restarted = _answer(await stage.via.put(f"{url}/start", json={"replay_speed": 1}, headers=USER))
        playing = await _states(stage, "playing")
        return [faster, stopped, paused, again, restarted, playing]

    outcome = await _same_through_both(pair, history, scenario)
    assert outcome == [
        (200, None, "PLAYING"),
        (200, None, "PAUSED"),
        ["status paused", "status paused"],
        (200, None, "PAUSED"),
        (200, None, "PLAYING"),
        ["status playing", "status playing"],
    ]


async def test_rest_end_through_either_replica_closes_the_viewers_of_both(pair, history):
    async def scenario(stage: Stage) -> list[object]:
        url = f"/v1/replay/{stage.session_id}"
        ended = _answer(await stage.via.put(f"{url}/end", json={"tenant_id": str(TENANT)}, headers=USER))
        closes = await asyncio.gather(*(_closing(v) for v in stage.viewers))
        again = _answer(await stage.via.put(f"{url}/end", json={}, headers=USER))
        start = _answer(await stage.via.put(f"{url}/start", json={"replay_speed": 1}, headers=USER))
        return [ended, closes, again, start]

    outcome = await _same_through_both(pair, history, scenario)
    closed = ("error SESSION_INACTIVE", "closed 4409")
    assert outcome == [
        (200, None, "ENDED"),
        [closed, closed],
        (200, None, "ENDED"),
        (409, "SESSION_INACTIVE", None),
    ]


async def test_reset_through_either_replica_closes_the_viewers_of_both(pair, history):
    async def scenario(stage: Stage) -> list[object]:
        reset = _answer(await stage.via.post("/v1/replay/reset", json={}, headers=ADMIN))
        closes = await asyncio.gather(*(_closing(v) for v in stage.viewers))
        again = _answer(await stage.via.post("/v1/replay/reset", json={}, headers=ADMIN))
        return [reset, closes, again]

    outcome = await _same_through_both(pair, history, scenario)
    closed = ("error SESSION_INACTIVE", "closed 4409")
    assert outcome == [(200, None, "ENDED"), [closed, closed], (404, "NOT_FOUND", None)]


@pytest.mark.parametrize("how", ["terminate", "delete", "admin"])
async def test_ending_a_session_through_either_replica_closes_the_viewers_of_both(pair, history, how):
    async def scenario(stage: Stage) -> list[object]:
        path = f"/session/{stage.session_id}"
        if how == "terminate":
            response = await stage.via.post(f"{path}/terminate", headers=USER)
        elif how == "delete":
            response = await stage.via.delete(path, headers=USER)
        else:
            response = await stage.via.post(
                "/admin/sessions/terminate", json={"session_ids": [stage.session_id]}, headers=ADMIN
            )
        closes = await asyncio.gather(*(_closing(v) for v in stage.viewers))
        return [response.status_code, closes]

    outcome = await _same_through_both(pair, history, scenario, rnr=False)
    closed = ("error SESSION_INACTIVE", "closed 4409")
    assert outcome == [200 if how == "admin" else 204, [closed, closed]]


async def test_websocket_commands_from_a_viewer_of_either_replica_answer_the_same(pair, history):
    async def scenario(stage: Stage) -> list[object]:
        # The commanding viewer is on the replica the call goes through: A's own, or B's.
        through_owner = stage.via.base_url == httpx.URL(stage.sockets_of.url)
        commander = stage.viewers[0 if through_owner else 1]
        replies: list[object] = []

        async def command(message_id: int, **message: Any) -> None:
            await commander.send(id=message_id, **message)
            seen = stage.seen.setdefault(id(commander), [])
            reply = await commander.until(lambda m: seen.append(m) or m.get("reply_to") == message_id, WAIT_S)
            replies.append((reply["type"], reply.get("state") or reply.get("code")))

        await command(1, type="stop")
        replies.append(await _states(stage, "paused"))
        await command(2, type="stop")
        await command(3, type="speed", speed=4)
        await command(4, type="speed", speed=5000)
        await command(5, type="seek", timestamp=rfc3339(history.first - timedelta(days=1)))
        await command(6, type="start")
        replies.append(await _states(stage, "playing"))
        await command(7, type="start")
        return replies

    outcome = await _same_through_both(pair, history, scenario)
    assert outcome == [
        ("status", "paused"),
        ["status paused", "status paused"],
        ("error", "NOT_ALLOWED"),
        ("status", "paused"),
        ("error", "INVALID_SPEED"),
        ("error", "INVALID_TIMESTAMP"),
        ("status", "playing"),
        ["status playing", "status playing"],
        ("error", "NOT_ALLOWED"),
    ]
