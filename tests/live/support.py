"""Helpers of the live playback tests: a known history, its reference model, and a viewer that checks its frames."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.support import bearer, make_token

TENANT = uuid.UUID("6d3b0069-73ad-4d47-b1cd-e77a9398e275")
OTHER_TENANT = uuid.UUID("512b1730-8f15-4ae4-bf57-fe1bc9cd4f63")
RECV_TIMEOUT_S = 10.0


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Ev:
    """One event of a history, in ingest (seq) order."""

    table: str
    entity: str
    op: str
    ts: datetime
    state: dict[str, Any] | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.table, self.entity)

    def body(self) -> dict[str, Any]:
        return {
            "table_name": self.table,
            "entity_id": self.entity,
            "op": self.op,
            "entity_state": self.state,
            "event_timestamp": rfc3339(self.ts),
        }


@dataclass
class History:
    """A recorded history and its reference model (SPEC section 5)."""

    events: list[Ev]

    @property
    def first(self) -> datetime:
        return min(e.ts for e in self.events)

    @property
    def last(self) -> datetime:
        return max(e.ts for e in self.events)

    def state(self, at: datetime) -> dict[tuple[str, str], tuple[str, Any, datetime]]:
        latest: dict[tuple[str, str], Ev] = {}
        for ev in self.events:  # seq order: a later event at the same time wins
            if ev.ts <= at and (ev.key not in latest or ev.ts >= latest[ev.key].ts):
                latest[ev.key] = ev
        return {key: (ev.op, ev.state, ev.ts) for key, ev in latest.items() if ev.op != "d"}

    def between(self, start: datetime, end: datetime) -> list[tuple[str, str, str, Any, datetime]]:
        kept = sorted((e for e in self.events if start < e.ts <= end), key=lambda e: e.ts)  # stable: seq order
        return [(e.table, e.entity, e.op, e.state, e.ts) for e in kept]


def make_history(
    start: datetime, *, entities: int = 20, seconds: float = 20.0, step_ms: int = 50, padding: int = 0
) -> History:
    """A deterministic history: creates, then updates every ``step_ms`` (a few at one timestamp), deletes and
    re-creates, over ``seconds`` from ``start``."""
    events: list[Ev] = []
    alive: set[int] = set()
    pad = "x" * padding
    for n in range(entities):
        events.append(Ev("public.vehicles", f"v{n}", "c", start, {"n": n, "v": 0, "pad": pad}))
        alive.add(n)
    steps = int(seconds * 1000 / step_ms)
    for step in range(1, steps + 1):
        ts = start + timedelta(milliseconds=step * step_ms)
        for k in range(1 + step % 3):  # up to three events at one timestamp
            n = (step * 7 + k * 3) % entities
            if n in alive and step % 17 == 0:
                events.append(Ev("public.vehicles", f"v{n}", "d", ts, None))
                alive.discard(n)
            elif n in alive:
                events.append(Ev("public.vehicles", f"v{n}", "u", ts, {"n": n, "v": step, "pad": pad}))
            else:
                events.append(Ev("public.vehicles", f"v{n}", "c", ts, {"n": n, "v": step, "pad": pad}))
                alive.add(n)
        if step % 10 == 0:
            events.append(Ev("zones", f"z{step % 4}", "u", ts, {"step": step}))
    return History(events)


def recent_start() -> datetime:
    """A whole second an hour ago: well inside the playback range."""
    return (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)


async def ingest(client: httpx.AsyncClient, history: History, tenant: uuid.UUID = TENANT) -> None:
    token = make_token("ingester", tenant, admin=True)
    bodies = [e.body() for e in history.events]
    for i in range(0, len(bodies), 5000):
        response = await client.post("/v1/ingest/events", json=bodies[i : i + 5000], headers=bearer(token))
        assert response.status_code == 200, response.text


async def new_session(client: httpx.AsyncClient, user: str = "viewer-1", tenant: uuid.UUID = TENANT) -> str:
    response = await client.post("/session", headers=bearer(make_token(user, tenant)))
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def ws_url(base: str, session_id: str) -> str:
    return base.replace("http://", "ws://") + f"/ws/replay/{session_id}"


def open_socket(base: str, session_id: str, token: str | None, **kwargs: Any) -> Any:
    headers = bearer(token) if token is not None else None
    return connect(ws_url(base, session_id), additional_headers=headers, compression=None, open_timeout=10, **kwargs)


@dataclass
class Watcher:
    """A client that applies what it receives and checks the guarantees of SPEC section 8 as it goes."""

    ws: ClientConnection
    history: History | None = None
    seq: int = 0
    position: datetime | None = None
    picture: dict[tuple[str, str], tuple[str, Any, datetime]] = field(default_factory=dict)
    received: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=100))
    frames: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    """Arrival time, and seq / from / to, of every events frame."""
    conflated: int = 0
    states: int = 0
    diff_seeks: int = 0
    check_events: bool = True

    async def recv(self, timeout: float = RECV_TIMEOUT_S) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(raw, str), "frames are text"
        message = json.loads(raw)
        self.received.append(message)
        self.apply(message)
        return message

    def apply(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind not in ("state", "events"):
            return
        assert message["seq"] == self.seq + 1, f"seq {message['seq']} after {self.seq}"
        self.seq = message["seq"]
        if kind == "state":
            if message["chunk"] == 1:
                self.picture = {}
                self.states += 1
            self.position = parse_time(message["timestamp"])
            for item in message["entities"]:
                self.picture[(item["table_name"], item["entity_id"])] = (
                    item["op"],
                    item["entity_state"],
                    parse_time(item["event_timestamp"]),
                )
            return
        start, end = parse_time(message["from"]), parse_time(message["to"])
        assert start == self.position, f"frame from {start} does not continue {self.position}"
        if message.get("seek"):
            # A diff-seek: the net change to the target, upserts and deletes, then the picture is the one at `to`.
            self.diff_seeks += 1
            for i in message["events"]:
                key = (i["table_name"], i["entity_id"])
                if i["op"] == "d":
                    self.picture.pop(key, None)
                else:
                    self.picture[key] = (i["op"], i["entity_state"], parse_time(i["event_timestamp"]))
            self.position = end
            return
        assert start < end
        self.frames.append((time.monotonic(), {k: message[k] for k in ("seq", "from", "to")}))
        items = [
            (i["table_name"], i["entity_id"], i["op"], i["entity_state"], parse_time(i["event_timestamp"]))
            for i in message["events"]
        ]
        if message.get("conflated"):
            self.conflated += 1
        elif self.history is not None and self.check_events:
            assert items == self.history.between(start, end), f"events of ({start}, {end}] differ"
        for table, entity, op, state, ts in items:
            if op == "d":
                self.picture.pop((table, entity), None)
            else:
                self.picture[(table, entity)] = (op, state, ts)
        self.position = end

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = RECV_TIMEOUT_S
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            message = await self.recv(max(0.01, deadline - time.monotonic()))
            if predicate(message):
                return message

    async def state_complete(self, timeout: float = RECV_TIMEOUT_S) -> dict[str, Any]:
        return await self.until(lambda m: m["type"] == "state" and m["chunk"] == m["chunks"], timeout)

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    def assert_picture_true(self) -> None:
        assert self.history is not None
        assert self.position is not None
        assert self.picture == self.history.state(self.position)


def of_type(kind: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == kind and all(m.get(k) == v for k, v in fields.items())
