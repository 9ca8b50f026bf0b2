"""GET /replay/histogram: counts per bucket and per table, whether rolled up or counted live."""

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from store.pool import Database, PoolConfig
from store.rollup import refresh_rollup
from tests.support import bearer, make_token

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
# Buckets are aligned on the Unix epoch: start on a quarter hour.
START = (NOW - timedelta(hours=3)).replace(minute=(NOW.minute // 15) * 15)


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def history() -> list[dict]:
    events = []
    for i in range(120):
        moment = START + timedelta(minutes=i, seconds=i % 50)
        events.append(
            {
                "entity_id": str(i % 7),
                "table_name": "fleet.vehicles" if i % 3 else "ops.tasks",
                "op": "u",
                "entity_state": {"i": i},
                "event_timestamp": stamp(moment),
            }
        )
    return events


def expected(events, start, bucket) -> dict[datetime, Counter]:
    counts: dict[datetime, Counter] = {}
    for event in events:
        moment = datetime.fromisoformat(event["event_timestamp"].replace("Z", "+00:00"))
        key = start + (moment - start) // bucket * bucket
        counts.setdefault(key, Counter())[event["table_name"]] += 1
    return counts


@pytest.mark.parametrize("rolled_up_minutes", [0, 45, 200])
async def test_histogram_counts_every_event_once_however_much_is_rolled_up(server, settings, rolled_up_minutes):
    tenant = uuid.uuid4()
    headers = bearer(make_token("viewer", tenant))
    events = history()
    async with server.client() as client:
        assert (await client.post("/v1/ingest/events", json=events, headers=headers)).status_code == 200
        db = Database(PoolConfig(dsn=settings.database_url, min_size=1, max_size=2))
        await db.open()
        try:
            await refresh_rollup(db, START + timedelta(minutes=rolled_up_minutes), timedelta(0))
        finally:
            await db.close()
        answer = await client.get(
            "/replay/histogram",
            params={"start": stamp(START), "end": stamp(START + timedelta(hours=2)), "bucket": "15m"},
            headers=headers,
        )
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["bucket_seconds"] == 900
    by_start = {datetime.fromisoformat(b["start"].replace("Z", "+00:00")): b for b in data["buckets"]}
    want = expected(events, START, timedelta(minutes=15))
    assert len(data["buckets"]) == 8
    for moment, bucket in by_start.items():
        assert bucket["tables"] == dict(want.get(moment, {})), moment
        assert bucket["count"] == sum(want.get(moment, Counter()).values())


async def test_histogram_defaults_to_the_playback_range_and_validates_its_bucket(server):
    headers = bearer(make_token("viewer", uuid.uuid4()))
    async with server.client() as client:
        default = await client.get("/replay/histogram", headers=headers)
        bad = await client.get("/replay/histogram", params={"bucket": "90s"}, headers=headers)
        too_many = await client.get("/replay/histogram", params={"bucket": "1m"}, headers=headers)
        other_tenant = await client.get("/replay/histogram", headers=bearer(make_token("x", uuid.uuid4())))
    assert default.status_code == 200
    assert 1 <= len(default.json()["data"]["buckets"]) <= 201
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["field"] == "bucket"
    assert too_many.status_code == 400
    assert all(b["count"] == 0 for b in other_tenant.json()["data"]["buckets"])
