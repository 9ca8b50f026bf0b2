import asyncio
import time
import uuid

import redis.asyncio as aioredis

from app.embedded import EmbeddedRedis
from tests.support import bearer, make_token

TENANT = uuid.UUID(int=7)
ADMIN = bearer(make_token("boss", TENANT, admin=True))


async def _set_limit(client, limit):
    response = await client.put("/admin/settings", json={"max_active_sessions": limit}, headers=ADMIN)
    assert response.status_code == 200


async def _create_many(clients, count):
    async def one(i):
        client = clients[i % len(clients)]
        return await client.post("/session", headers=bearer(make_token(f"user-{i}", TENANT)))

    return await asyncio.gather(*(one(i) for i in range(count)))


async def _fill_up_sequentially(client):
    """Create sessions one at a time until refused; the number created."""
    created = 0
    while (await client.post("/session", headers=bearer(make_token(f"late-{created}", TENANT)))).status_code == 201:
        created += 1
    return created


async def _active_count(client):
    response = await client.get("/admin/sessions/status", headers=ADMIN)
    return response.json()["data"]["active_sessions"]


async def test_200_concurrent_creates_on_two_replicas_admit_exactly_the_limit(settings, start_server):
    async with start_server(settings) as a, start_server(settings) as b, a.client() as ca, b.client() as cb:
        await _set_limit(ca, 10)
        answers = await _create_many([ca, cb], 200)
        assert sorted(r.status_code for r in answers) == [201] * 10 + [429] * 190
        assert await _active_count(ca) == 10


async def test_past_the_limit_the_answer_says_to_terminate_a_session(settings, start_server):
    async with start_server(settings) as a, a.client() as client:
        await _set_limit(client, 1)
        await client.post("/session", headers=bearer(make_token("u1", TENANT)))
        refused = await client.post("/session", headers=bearer(make_token("u2", TENANT)))
    assert refused.status_code == 429
    assert refused.headers["Retry-After"].isdigit()
    error = refused.json()["error"]
    assert error["code"] == "SESSION_LIMIT_REACHED"
    assert error["action"] == "terminate_existing_session"
    assert error["is_retryable"] is False


async def test_terminate_frees_a_slot_at_once(server):
    async with server.client() as client:
        await _set_limit(client, 2)
        user = bearer(make_token("u1", TENANT))
        first = (await client.post("/session", headers=user)).json()["data"]
        await client.post("/session", headers=user)
        assert (await client.post("/session", headers=user)).status_code == 429
        await client.post(f"/session/{first['id']}/terminate", headers=user)
        assert (await client.post("/session", headers=user)).status_code == 201


async def test_an_idle_session_expires_and_frees_its_slot(settings, start_server):
    async with start_server(settings.replace(session_idle_timeout_s=1.0)) as server, server.client() as client:
        await _set_limit(client, 1)
        user = bearer(make_token("u1", TENANT))
        assert (await client.post("/session", headers=user)).status_code == 201
        deadline = time.monotonic() + 10
        while (await client.post("/session", headers=user)).status_code != 201:
            assert time.monotonic() < deadline, "idle session never expired"
            await asyncio.sleep(0.2)
        listed = await client.get("/admin/sessions", params={"sort": "created_at,asc"}, headers=ADMIN)
    statuses = [row["status"] for row in listed.json()["data"]]
    assert statuses[0] == "INACTIVE"
    assert statuses[-1] == "ACTIVE"


async def test_the_limit_holds_when_redis_is_flushed_mid_way(settings, start_server):
    async with start_server(settings) as a, start_server(settings) as b, a.client() as ca, b.client() as cb:
        await _set_limit(ca, 10)
        first = await _create_many([ca, cb], 6)
        assert all(r.status_code == 201 for r in first)
        redis = aioredis.Redis.from_url(settings.redis_url)
        try:
            keys = [key async for key in redis.scan_iter(match=f"{settings.redis_prefix}*")]
            assert keys, "the admission keys should exist before the flush"
            await redis.delete(*keys)
        finally:
            await redis.aclose()
        answers = await _create_many([ca, cb], 60)
        # Never one too many; a rebuild inside the burst may refuse a few that would have fitted.
        admitted = sum(r.status_code == 201 for r in answers)
        assert admitted <= 4
        assert {r.status_code for r in answers} <= {201, 429}
        assert admitted + await _fill_up_sequentially(cb) == 4
        assert await _active_count(ca) == 10


async def test_the_limit_holds_when_redis_restarts_mid_way(settings, start_server, tmp_path):
    redis_server = EmbeddedRedis(tmp_path / "own-redis")
    own = settings.replace(redis_url=redis_server.start())
    try:
        async with start_server(own) as a, start_server(own) as b, a.client() as ca, b.client() as cb:
            await _set_limit(ca, 10)
            assert all(r.status_code == 201 for r in await _create_many([ca, cb], 7))
            redis_server.stop()
            redis_server.start()
            answers = await _create_many([ca, cb], 60)
            admitted = sum(r.status_code == 201 for r in answers)
            assert admitted <= 3
            assert {r.status_code for r in answers} <= {201, 429}
            assert admitted + await _fill_up_sequentially(cb) == 3
            assert await _active_count(ca) == 10
    finally:
        redis_server.stop()


async def test_with_redis_down_creation_is_a_retryable_503_and_leaves_nothing(settings, start_server, tmp_path):
    redis_server = EmbeddedRedis(tmp_path / "own-redis")
    own = settings.replace(redis_url=redis_server.start())
    try:
        async with start_server(own) as server, server.client() as client:
            redis_server.stop()
            refused = await client.post("/session", headers=bearer(make_token("u1", TENANT)))
            assert refused.status_code == 503
            error = refused.json()["error"]
            assert error["code"] == "SESSION_CREATION_FAILED"
            assert error["is_retryable"] is True
            assert await _active_count(client) == 0
            listed = await client.get("/admin/sessions", headers=ADMIN)
            assert listed.json()["page"]["total_records"] == 0
    finally:
        redis_server.stop()
