"""GET /replay/gaps: the quiet stretches of the rollup, with exact edges from the events, never one holding an event."""

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from store.pool import Database, PoolConfig
from store.rollup import refresh_rollup
from tests.support import bearer, make_token

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
START = NOW - timedelta(hours=3)


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def body(moment: datetime, n: int) -> dict:
    return {
        "entity_id": str(n % 5),
        "table_name": "fleet.vehicles",
        "op": "u",
        "entity_state": {"n": n},
        "event_timestamp": stamp(moment),
    }


def instants() -> list[datetime]:
    """Bursts every few seconds, separated by quiet stretches of 30 s, 3 min, 10 min and 45 s, then 20 min."""
    moments: list[datetime] = []
    at = START + timedelta(seconds=17)
    for quiet in (30, 180, 600, 45, 1200):
        moments.extend(at + timedelta(seconds=3 * i, milliseconds=123 * i) for i in range(10))
        at = moments[-1] + timedelta(seconds=quiet)
    moments.extend(at + timedelta(seconds=2 * i) for i in range(5))
    return moments


def reference(moments: list[datetime], min_quiet: timedelta) -> list[tuple[datetime, datetime]]:
    return [(a, b) for a, b in itertools.pairwise(moments) if b - a >= min_quiet]


async def _refresh(settings, until: datetime) -> None:
    db = Database(PoolConfig(dsn=settings.database_url, min_size=1, max_size=2))
    await db.open()
    try:
        await refresh_rollup(db, until, timedelta(0))
    finally:
        await db.close()


async def _gaps(client, headers, **params) -> list[tuple[datetime, datetime]]:
    answer = await client.get("/replay/gaps", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return [(parse(g["from"]), parse(g["to"])) for g in answer.json()["data"]["gaps"]]


async def test_gaps_are_the_rolled_up_quiet_stretches_with_exact_edges_and_a_late_event_shortens_one(server, settings):
    headers = bearer(make_token("viewer", uuid.uuid4()))
    moments = instants()
    window = {"start": stamp(moments[0]), "end": stamp(moments[-1])}
    async with server.client() as client:
        response = await client.post(
            "/v1/ingest/events", json=[body(m, n) for n, m in enumerate(moments)], headers=headers
        )
        assert response.status_code == 200
        # Nothing rolled up yet: no minute is taken for empty, so no stretch is found.
        assert await _gaps(client, headers, **window, min_s="60") == []
        await _refresh(settings, NOW)
        assert await _gaps(client, headers, **window, min_s="60") == reference(moments, timedelta(seconds=60))
        # A longer threshold leaves the shorter stretches out; a window that starts inside one still has it.
        assert await _gaps(client, headers, **window, min_s="900") == reference(moments, timedelta(seconds=900))
        longest = reference(moments, timedelta(seconds=900))[0]
        inside = {"start": stamp(longest[0] + timedelta(seconds=5)), "end": window["end"]}
        assert await _gaps(client, headers, **inside, min_s="900") == [longest]
        # An event that arrives after its minute was rolled up cuts its stretch in two: neither holds it.
        ten_minutes = reference(moments, timedelta(minutes=9))[0]
        late = ten_minutes[0] + timedelta(minutes=4, seconds=30)
        response = await client.post("/v1/ingest/events", json=[body(late, 99)], headers=headers)
        assert response.status_code == 200
        found = await _gaps(client, headers, **window, min_s="60")
        for quiet_from, quiet_to in found:
            assert not [m for m in [*moments, late] if quiet_from < m < quiet_to]
        assert (ten_minutes[0], late) in found
        assert ten_minutes not in found


@pytest.mark.parametrize("min_s", ["0", "-1", "abc", "1e12", "nan"])
async def test_a_bad_threshold_is_a_400_naming_min_s(server, min_s):
    headers = bearer(make_token("viewer", uuid.uuid4()))
    async with server.client() as client:
        answer = await client.get("/replay/gaps", params={"min_s": min_s}, headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["details"]["field"] == "min_s"
