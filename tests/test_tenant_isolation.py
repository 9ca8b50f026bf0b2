"""Isolation between tenants, proven on random histories: whatever ids tenant A's user or admin guesses, no byte of
tenant B's events, sessions or replay reaches A, and nothing A sends changes B's.

Both tenants record the same tables and entity ids (so any mix-up would show in A's answers), and every value of
B's carries a marker that must never appear in anything A receives, over REST or the WebSocket.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.live.support import Ev as LiveEv
from tests.live.support import History, open_socket, parse_time, rfc3339
from tests.support import RunningServer, bearer, make_token

TABLES = ("public.vehicles", "public.tasks", "zones")
START = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
EXAMPLES = settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@st.composite
def histories(draw: st.DrawFn, marker: str | None = None) -> History:
    """Creates, updates and deletes of three entities per table over ten minutes; ``marker`` in every value."""
    # Every history starts at START, so both tenants' replayable range starts there too.
    events = [LiveEv("zones", "anchor", "c", START, {"v": -1} if marker is None else {"owner": marker})]
    for index in range(draw(st.integers(0, 25))):
        op = draw(st.sampled_from("cuuurd"))
        state: dict[str, Any] | None = None if op == "d" else {"v": index}
        if state is not None and marker is not None:
            state["owner"] = marker
        moment = START + timedelta(seconds=draw(st.integers(0, 600)))
        events.append(LiveEv(draw(st.sampled_from(TABLES)), draw(st.sampled_from("123")), op, moment, state))
    return History(events)


@dataclass
class Caller:
    """One principal of tenant A; keeps everything the server said to it."""

    client: httpx.AsyncClient
    token: str
    heard: list[str] = field(default_factory=list)

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**bearer(self.token), **kwargs.pop("headers", {})}
        answer = await self.client.request(method, path, headers=headers, **kwargs)
        assert answer.status_code < 500, f"{method} {path}: {answer.status_code} {answer.text}"
        self.heard.append(answer.text)
        self.heard.extend(f"{name}: {value}" for name, value in answer.headers.items())
        return answer


async def ingest(client: httpx.AsyncClient, tenant: uuid.UUID, history: History) -> None:
    token = make_token("ingester", tenant, admin=True)
    answer = await client.post("/v1/ingest/events", json=[e.body() for e in history.events], headers=bearer(token))
    assert answer.status_code == 200, answer.text


def picture(items: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, Any, datetime]]:
    return {
        (i["table_name"], i["entity_id"]): (i["op"], i["entity_state"], parse_time(i["event_timestamp"])) for i in items
    }


def stored(history: History) -> History:
    """The events the store keeps: the first of each identity (ingest is idempotent)."""
    seen: set[tuple[object, ...]] = set()
    kept = []
    for e in history.events:
        identity = (e.table, e.entity, e.op, e.ts)
        if identity not in seen:
            seen.add(identity)
            kept.append(e)
    return History(kept)


async def listen_after_commands(server: RunningServer, caller: Caller, session_id: str) -> None:
    """Attach and send commands, then keep every message until the server closes the socket."""
    async with open_socket(server.url, session_id, caller.token) as ws:
        for command in ({"type": "start", "speed": 10}, {"type": "seek", "timestamp": rfc3339(START)}):
            await ws.send(json.dumps(command))
        while True:
            message = await ws.recv(decode=True)
            caller.heard.append(str(message))
            assert json.loads(message)["type"] not in ("hello", "state", "events"), message


async def tries_socket(server: RunningServer, caller: Caller, session_id: str) -> None:
    """Attach to another tenant's session and send it commands: refused, and nothing of it is said."""
    with pytest.raises(ConnectionClosed) as closed:
        await listen_after_commands(server, caller, session_id)
    refusal = closed.value.rcvd
    assert refusal is not None
    caller.heard.append(refusal.reason)
    assert refusal.code == 1008 or 4000 <= refusal.code < 5000, refusal


async def guesses_of(server: RunningServer, caller: Caller, b_tenant: uuid.UUID, b_session: str, b_replay: str) -> None:
    """Every way tenant A's caller could name B's session, replay or tenant."""
    moment = rfc3339(START + timedelta(minutes=5))
    end = rfc3339(START + timedelta(minutes=11))
    for ids in ({"headers": {"X-Session-ID": b_session}}, {"params": {"session_id": b_session}}):
        headers, params = ids.get("headers", {}), ids.get("params", {})
        answer = await caller.call("GET", "/replay/state", params={"timestamp": moment, **params}, headers=headers)
        assert answer.status_code in (403, 404), answer.text
        answer = await caller.call(
            "GET", "/replay/events", params={"start": rfc3339(START), "end": end, **params}, headers=headers
        )
        assert answer.status_code in (403, 404), answer.text
    for kept in (b_session, b_replay):
        assert (await caller.call("DELETE", f"/session/{kept}")).status_code in (403, 404)
        assert (await caller.call("POST", f"/session/{kept}/terminate")).status_code in (403, 404)
    await caller.call("POST", "/admin/sessions/terminate", json={"session_ids": [b_session, b_replay]})
    for query in ({"tenant_id": str(b_tenant)}, {"status": "ACTIVE"}, {}):
        await caller.call("GET", "/admin/sessions", params=query)
    await caller.call("GET", "/v1/replay/current-session")
    body = {"tenant_id": str(b_tenant)}
    for action, payload in (("start", {"replay_speed": 5, **body}), ("stop", body), ("end", body)):
        answer = await caller.call("PUT", f"/v1/replay/{b_replay}/{action}", json=payload)
        assert answer.status_code in (400, 403, 404), answer.text
    assert (await caller.call("POST", "/v1/replay/reset", json=body)).status_code in (403, 404)
    answer = await caller.call(
        "POST",
        "/v1/replay/init",
        json={"replay_requested_timestamp": rfc3339(START), "replay_end_timestamp": end, **body},
    )
    assert answer.status_code == 403, answer.text
    for path, payload in (
        ("/v1/configuration/snapshot-interval", {"snapshot_interval": "*/5 * * * *", **body}),
        ("/v1/configuration/snapshot-list-tables", {"list_tables": "public.vehicles", **body}),
    ):
        assert (await caller.call("PUT", path, json=payload)).status_code == 403
    for session_id in (b_session, b_replay):
        await tries_socket(server, caller, session_id)


@EXAMPLES
@given(a_history=histories(), b_marker=st.uuids().map(lambda u: f"secret-{u.hex}"), data=st.data())
async def test_no_byte_of_another_tenant_reaches_a_tenant_whatever_ids_it_guesses(
    server: RunningServer, a_history: History, b_marker: str, data: st.DataObject
) -> None:
    b_history = data.draw(histories(b_marker))
    a_tenant, b_tenant = uuid.uuid4(), uuid.uuid4()
    b_user = f"user-{b_marker}"
    async with server.client() as client:
        await ingest(client, a_tenant, a_history)
        await ingest(client, b_tenant, b_history)
        b_headers = bearer(make_token(b_user, b_tenant))
        b_session = (await client.post("/session", headers=b_headers)).json()["data"]["id"]
        window = {
            "replay_requested_timestamp": rfc3339(START),
            "replay_end_timestamp": rfc3339(START + timedelta(minutes=11)),
        }
        b_replay_answer = await client.post("/v1/replay/init", json=window, headers=b_headers)
        assert b_replay_answer.status_code == 201, b_replay_answer.text
        b_replay = b_replay_answer.json()["data"]["id"]
        a_sessions: list[str] = []
        try:
            user = Caller(client, make_token("a-user", a_tenant))
            admin = Caller(client, make_token("a-admin", a_tenant, admin=True))
            for caller in (user, admin):
                await guesses_of(server, caller, b_tenant, b_session, b_replay)

            # A's own answers are exactly A's history, although B recorded the same tables and entity ids.
            created = await user.call("POST", "/session")
            own = {"X-Session-ID": created.json()["data"]["id"]}
            model = stored(a_history)
            for minute in (0, 5, 10, 11):
                moment = START + timedelta(minutes=minute)
                answer = await user.call("GET", "/replay/state", params={"timestamp": rfc3339(moment)}, headers=own)
                assert picture(answer.json()["data"]) == model.state(moment)
            events = await user.call(
                "GET",
                "/replay/events",
                params={"start": rfc3339(START), "end": rfc3339(START + timedelta(minutes=11))},
                headers={**own, "Accept": "application/x-ndjson"},
            )
            lines = [json.loads(line) for line in events.text.splitlines() if line]
            assert len(lines) == len(model.between(START, START + timedelta(minutes=11)))
            histogram = await user.call(
                "GET",
                "/replay/histogram",
                params={"start": rfc3339(START), "end": rfc3339(START + timedelta(minutes=12))},
                headers=own,
            )
            assert histogram.status_code == 200, histogram.text

            heard = "\n".join(user.heard + admin.heard)
            assert b_marker not in heard
            assert b_user not in heard

            # Nothing A did changed B's session or replay.
            b_replay_now = await client.get("/v1/replay/current-session", headers=b_headers)
            assert b_replay_now.json()["data"]["id"] == b_replay
            assert b_replay_now.json()["data"]["status"] == "INITIALIZED"
            b_state = await client.get(
                "/replay/state",
                params={"timestamp": rfc3339(START + timedelta(minutes=11))},
                headers={**b_headers, "X-Session-ID": b_session},
            )
            assert b_state.status_code == 200, "B's session is still ACTIVE and its own"
            assert picture(b_state.json()["data"]) == stored(b_history).state(START + timedelta(minutes=11))
        finally:
            # Free the slots for the next example (the session limit is global).
            await client.put(f"/v1/replay/{b_replay}/end", headers=b_headers)
            await client.post(f"/session/{b_session}/terminate", headers=b_headers)
            for session_id in a_sessions:
                await client.post(f"/session/{session_id}/terminate", headers=bearer(user.token))
