"""GET /replay/state, /replay/events and /replay/range through the real server, against the reference model."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.events import EventFilters
from tests.store.model import TABLES, Ev, model_events, model_state
from tests.support import bearer, make_token

NOW = datetime.now(UTC).replace(microsecond=0)
BASE = NOW - timedelta(hours=2)
EXAMPLES = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def at(minute: int, micros: int = 0) -> datetime:
    return BASE + timedelta(minutes=minute, microseconds=micros)


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def wire(ev: Ev) -> dict:
    body = {"entity_id": ev.entity, "table_name": ev.table, "op": ev.op, "event_timestamp": stamp(ev.ts)}
    if ev.state is not None:
        body["entity_state"] = json.loads(ev.state)
    return body


class Tenant:
    """A tenant with a user who owns an ACTIVE session, talking to the real server."""

    def __init__(self, client, name: str = "viewer") -> None:
        self.client = client
        self.id = uuid.uuid4()
        self.headers = bearer(make_token(name, self.id))
        self.session_id = ""

    async def start(self, history: list[Ev] = ()) -> "Tenant":
        if history:
            answer = await self.client.post(
                "/v1/ingest/events", json=[wire(ev) for ev in history], headers=self.headers
            )
            assert answer.status_code == 200, answer.text
        created = await self.client.post("/session", headers=self.headers)
        assert created.status_code == 201, created.text
        self.session_id = created.json()["data"]["id"]
        return self

    async def get(self, path: str, **params):
        return await self.client.get(path, params=params, headers={**self.headers, "X-Session-ID": self.session_id})

    async def range_start(self) -> datetime:
        answer = await self.client.get("/replay/range", headers=self.headers)
        return parse_time(answer.json()["data"]["start_date"])

    async def state(self, moment: datetime, **params) -> dict:
        answer = await self.get("/replay/state", timestamp=stamp(moment), **params)
        assert answer.status_code == 200, answer.text
        return as_state(answer.json()["data"])

    async def events(self, start: datetime, end: datetime, **params) -> list[dict]:
        answer = await self.get("/replay/events", start=stamp(start), end=stamp(end), **params)
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def as_state(items: list[dict]) -> dict:
    state = {}
    for item in items:
        key = (item["table_name"], item["entity_id"])
        assert key not in state
        state[key] = (item["op"], item["entity_state"], parse_time(item["event_timestamp"]))
    return state


def model_as_wire(state: dict) -> dict:
    return {key: (op, json.loads(text), ts) for key, (op, text, ts) in state.items()}


def apply(state: dict, events: list[dict]) -> dict:
    result = dict(state)
    for item in events:
        key = (item["table_name"], item["entity_id"])
        if item["op"] == "d":
            result.pop(key, None)
        else:
            result[key] = (item["op"], item["entity_state"], parse_time(item["event_timestamp"]))
    return result


@st.composite
def histories(draw) -> list[Ev]:
    size = draw(st.integers(1, 30))
    history = []
    for index in range(size):
        op = draw(st.sampled_from("cuuurd"))
        history.append(
            Ev(
                table=draw(st.sampled_from(TABLES)),
                entity=draw(st.sampled_from(("1", "2", "3"))),
                op=op,
                ts=at(draw(st.integers(0, 30)), draw(st.sampled_from([0, 0, 1]))),
                state=None if op == "d" else json.dumps({"v": index}),
            )
        )
    return history


probe = st.builds(at, st.integers(0, 31), st.sampled_from([0, 1, 500_000]))


@EXAMPLES
@given(history=histories(), moments=st.lists(probe, min_size=2, max_size=2).map(sorted))
async def test_state_and_events_over_http_follow_the_model_and_compose(server, history, moments):
    async with server.client() as client:
        tenant = await Tenant(client).start(history)
        # Instants before the range start are refused (tested on their own below).
        start = await tenant.range_start()
        first, second = (max(moment, start) for moment in moments)
        try:
            await check_model_and_composition(tenant, history, first, second)
        finally:
            await client.post(f"/session/{tenant.session_id}/terminate", headers=tenant.headers)


async def check_model_and_composition(tenant, history, first, second):
    state_first = await tenant.state(first)
    assert state_first == model_as_wire(model_state(history, first, EventFilters()))
    between = await tenant.events(first, second)
    expected = model_events(history, first, second, EventFilters())
    assert [(e["table_name"], e["entity_id"], e["op"], parse_time(e["event_timestamp"])) for e in between] == [
        (table, entity, op, ts) for table, entity, op, _, ts in expected
    ]
    assert apply(state_first, between) == await tenant.state(second)


async def test_paged_events_concatenate_to_the_unpaged_read_in_json_and_ndjson(server):
    history = [Ev("public.a", str(i % 4), "u" if i > 3 else "c", at(i // 3), json.dumps({"i": i})) for i in range(25)]
    async with server.client() as client:
        tenant = await Tenant(client).start(history)
        start = max(at(-1), await tenant.range_start())
        whole = await tenant.events(start, at(20))
        paged, cursor = [], None
        while True:
            params = {"limit": 4} | ({"cursor": cursor} if cursor else {})
            answer = await tenant.get("/replay/events", start=stamp(start), end=stamp(at(20)), **params)
            body = answer.json()
            # A page ends between two instants (a source transaction is one instant): longer than its limit only
            # to finish the instant of its last item, and the next page starts at a later instant.
            if paged and body["data"]:
                assert paged[-1]["event_timestamp"] != body["data"][0]["event_timestamp"]
            assert body["page"]["count"] == len(body["data"])
            assert len(body["data"]) <= 4 or len({e["event_timestamp"] for e in body["data"][3:]}) == 1
            paged += body["data"]
            cursor = body["page"]["next_cursor"]
            if cursor is None:
                break
        ndjson_pages, cursor = [], None
        while True:
            params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
            answer = await client.get(
                "/replay/events",
                params={"start": stamp(at(0)), "end": stamp(at(20)), **params},
                headers={**tenant.headers, "X-Session-ID": tenant.session_id, "Accept": "application/x-ndjson"},
            )
            assert answer.headers["content-type"].startswith("application/x-ndjson")
            ndjson_pages += [json.loads(line) for line in answer.text.splitlines()]
            cursor = answer.headers.get("X-Next-Cursor")
            if cursor is None:
                break
    assert len(whole) == sum(ev.ts > start for ev in history)
    assert len(whole) >= 22
    assert paged == whole
    assert ndjson_pages == whole


async def test_state_filters_follow_the_spec(server):
    history = [
        Ev("public.a", "1", "c", at(1), '{"x": 1}'),
        Ev("audit.log", "1", "c", at(2), '{"x": 2}'),
        Ev("audit.log", "2", "c", at(10), '{"x": 3}'),
    ]
    async with server.client() as client:
        tenant = await Tenant(client).start(history)
        only_a = await tenant.state(at(20), tables="public.a")
        recent_log = await tenant.state(at(20), filter_tables="audit.log", filter_min_timestamp=stamp(at(5)))
        half = await tenant.get("/replay/state", filter_tables="audit.log")
    assert set(only_a) == {("public.a", "1")}
    assert set(recent_log) == {("public.a", "1"), ("audit.log", "2")}
    assert half.status_code == 400
    assert half.json()["error"]["details"]["field"] == "filter_min_timestamp"


async def test_state_without_timestamp_is_now_and_a_session_can_come_from_the_query(server):
    history = [Ev("public.a", "1", "c", at(1), '{"x": 1}')]
    async with server.client() as client:
        tenant = await Tenant(client).start(history)
        answer = await client.get("/replay/state", params={"session_id": tenant.session_id}, headers=tenant.headers)
    assert answer.status_code == 200
    assert answer.json()["message"] == "Get initial state successfully"
    assert [item["entity_id"] for item in answer.json()["data"]] == ["1"]


@pytest.mark.parametrize(
    ("timestamp", "code"),
    [
        # Named, not shown: an id with the time of collection in it differs between pytest-xdist's workers.
        pytest.param(stamp(NOW + timedelta(days=1)), "TIMESTAMP_OUT_OF_RANGE", id="a-day-ahead"),
        pytest.param(stamp(NOW - timedelta(days=31)), "TIMESTAMP_OUT_OF_RANGE", id="31-days-back"),
        pytest.param("2026-13-01T00:00:00Z", "VALIDATION_ERROR", id="month-13"),
        pytest.param("2026-01-01T00:00:00", "VALIDATION_ERROR", id="no-zone"),
    ],
)
async def test_state_timestamps_are_validated_with_the_bound_in_details(server, timestamp, code):
    async with server.client() as client:
        tenant = await Tenant(client).start([Ev("public.a", "1", "c", at(0), '{"x": 1}')])
        answer = await tenant.get("/replay/state", timestamp=timestamp)
        start = await tenant.range_start()
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == code
    if code == "TIMESTAMP_OUT_OF_RANGE":
        assert abs(parse_time(error["details"]["earliest"]) - start) < timedelta(seconds=5)
        assert error["details"]["max_playback_range_days"] == 30


async def test_an_instant_older_than_the_playback_range_is_out_of_range(server):
    admin = bearer(make_token("boss", uuid.uuid4(), admin=True))
    old = NOW - timedelta(days=3)
    async with server.client() as client:
        tenant = await Tenant(client).start([Ev("public.a", "1", "c", old, '{"x": 1}')])
        await client.put("/admin/settings", json={"max_playback_range": 1}, headers=admin)
        answer = await tenant.get("/replay/state", timestamp=stamp(old + timedelta(hours=1)))
        window = await tenant.get("/replay/events", start=stamp(NOW - timedelta(hours=3)), end=stamp(NOW))
    assert answer.json()["error"]["code"] == "TIMESTAMP_OUT_OF_RANGE"
    assert answer.json()["error"]["details"]["max_playback_range_days"] == 1
    assert window.status_code == 200


async def test_event_windows_are_validated(server):
    async with server.client() as client:
        tenant = await Tenant(client).start([Ev("public.a", "1", "c", at(0), '{"x": 1}')])
        backwards = await tenant.get("/replay/events", start=stamp(at(5)), end=stamp(at(1)))
        missing = await tenant.get("/replay/events", start=stamp(at(5)))
        bad_limit = await tenant.get("/replay/events", start=stamp(at(0)), end=stamp(at(1)), limit="0")
        bad_cursor = await tenant.get("/replay/events", start=stamp(at(0)), end=stamp(at(1)), cursor="garbage!")
    assert backwards.status_code == 400
    assert missing.status_code == 400
    assert bad_limit.json()["error"]["details"]["field"] == "limit"
    assert bad_cursor.json()["error"]["details"]["field"] == "cursor"


async def test_a_window_longer_than_the_playback_limit_is_invalid(server, settings):
    admin = bearer(make_token("boss", uuid.uuid4(), admin=True))
    async with server.client() as client:
        tenant = await Tenant(client).start([Ev("public.a", "1", "c", NOW - timedelta(days=5), '{"x": 1}')])
        await client.put("/admin/settings", json={"max_playback_range": 2}, headers=admin)
        answer = await tenant.get(
            "/replay/events", start=stamp(NOW - timedelta(days=2, hours=1)), end=stamp(NOW - timedelta(seconds=1))
        )
        early = await tenant.get(
            "/replay/events", start=stamp(NOW - timedelta(days=3)), end=stamp(NOW - timedelta(days=2, hours=23))
        )
        histogram = await tenant.get("/replay/histogram", start=stamp(NOW - timedelta(days=3)), end=stamp(NOW))
        fine = await tenant.get("/replay/events", start=stamp(NOW - timedelta(days=1)), end=stamp(NOW))
    # The window's length is judged before its ends (seed 000): too long is INVALID_PLAYBACK_WINDOW even when an end
    # is also out of range; a short window that starts too early is TIMESTAMP_OUT_OF_RANGE.
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "INVALID_PLAYBACK_WINDOW"
    assert answer.json()["error"]["details"] == {"max_playback_range_days": 2}
    assert early.json()["error"]["code"] == "TIMESTAMP_OUT_OF_RANGE"
    assert histogram.json()["error"]["code"] == "INVALID_PLAYBACK_WINDOW"
    assert fine.status_code == 200


async def test_replay_needs_an_active_session_of_the_caller(server):
    async with server.client() as client:
        owner = await Tenant(client, "owner").start([Ev("public.a", "1", "c", at(0), '{"x": 1}')])
        peer_headers = bearer(make_token("peer", owner.id))
        stranger = await Tenant(client, "stranger").start()
        no_session = await client.get("/replay/state", headers=peer_headers)
        peers = await client.get("/replay/state", headers={**peer_headers, "X-Session-ID": owner.session_id})
        strangers = await client.get("/replay/state", headers={**stranger.headers, "X-Session-ID": owner.session_id})
        await client.post(f"/session/{owner.session_id}/terminate", headers=owner.headers)
        inactive = await owner.get("/replay/state")
    assert no_session.status_code == 400
    assert peers.status_code == 403
    assert strangers.status_code == 404
    assert inactive.status_code == 409
    assert inactive.json()["error"]["code"] == "SESSION_INACTIVE"


async def test_no_tenant_sees_another_tenants_events(server):
    async with server.client() as client:
        first = await Tenant(client).start([Ev("public.a", "1", "c", at(1), '{"secret": 1}')])
        second = await Tenant(client).start([Ev("public.a", "2", "c", at(2), '{"x": 2}')])
        # The other tenant's later events, in windows that would include them if tenants were not kept apart.
        await first.client.post(
            "/v1/ingest/events", json=[wire(Ev("public.a", "1", "u", at(5), "{}"))], headers=first.headers
        )
        seen_state = await second.state(at(10))
        seen_events = await second.events(at(2), at(10))
    assert set(seen_state) == {("public.a", "2")}
    assert [e["entity_id"] for e in seen_events] == []
    assert first.id != second.id


async def test_the_playback_range_reaches_back_max_playback_range_days(server):
    async with server.client() as client:
        tenant = await Tenant(client).start([Ev("public.a", "1", "c", at(3), '{"x": 1}')])
        answer = await client.get("/replay/range", headers=tenant.headers)
    data = answer.json()["data"]
    assert set(data) == {"max_days", "start_date", "end_date", "earliest_valid_date"}
    assert data["max_days"] == 30
    assert datetime.now(UTC) - timedelta(days=30, minutes=1) < parse_time(data["start_date"]) <= at(3)
    assert abs(parse_time(data["end_date"]) - datetime.now(UTC)) < timedelta(seconds=30)
    assert data["earliest_valid_date"] == "2024-01-15T00:00:00Z"
