"""Readiness and liveness follow the dependencies: 503 while PostgreSQL or Redis is down, 200 again once it is
back, without restarting the server. The test owns its PostgreSQL and Redis, since it stops them."""

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from app.embedded import EmbeddedPostgres, EmbeddedRedis
from app.settings import Settings
from tests.faults.servers import private_postgres
from tests.support import TEST_SECRET, bearer, make_token

RECOVERY_DEADLINE_S = 15.0


@dataclass
class Dependencies:
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis
    database_url: str
    redis_url: str


@pytest.fixture(scope="module")
def dependencies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dependencies]:
    with private_postgres() as (postgres, database_url):
        redis = EmbeddedRedis(tmp_path_factory.mktemp("outage"))
        try:
            yield Dependencies(postgres, redis, database_url, redis.start())
        finally:
            redis.stop()


@pytest.fixture
def outage_settings(dependencies: Dependencies, tmp_path) -> Settings:
    return Settings(
        database_url=dependencies.database_url,
        redis_url=dependencies.redis_url,
        redis_prefix=f"t{uuid.uuid4().hex[:10]}:",
        data_dir=tmp_path / "data",
        jwt_secret=TEST_SECRET,
        settings_poll_s=0.1,
        db_pool_min=1,
        db_pool_max=3,
    )


async def wait_for_status(client, path: str, status: int) -> dict:
    deadline = time.monotonic() + RECOVERY_DEADLINE_S
    while True:
        response = await client.get(path)
        if response.status_code == status:
            return response.json()
        assert time.monotonic() < deadline, f"{path} still answers {response.status_code}: {response.text}"
        await asyncio.sleep(0.1)


def assert_unavailable(body: dict, down: str) -> None:
    error = body["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["is_retryable"] is True
    checks = error["details"]["checks"]
    assert checks[down] == "unreachable"
    assert all(state == "ok" for name, state in checks.items() if name != down)


async def test_both_probes_answer_200_when_postgres_and_redis_are_up(outage_settings, start_server):
    async with start_server(outage_settings) as running, running.client() as client:
        for path in ("/readiness", "/health"):
            response = await client.get(path)
            assert response.status_code == 200
            assert response.json()["data"]["checks"] == {"postgres": "ok", "redis": "ok"}


async def test_probes_answer_503_while_postgres_is_down_and_200_after_it_restarts(
    outage_settings, start_server, dependencies
):
    async with start_server(outage_settings) as running, running.client() as client:
        assert (await client.get("/readiness")).status_code == 200
        await asyncio.to_thread(dependencies.postgres.stop)
        try:
            for path in ("/readiness", "/health"):
                assert_unavailable(await wait_for_status(client, path, 503), "postgres")
        finally:
            await asyncio.to_thread(dependencies.postgres.restart)
        await wait_for_status(client, "/readiness", 200)
        await wait_for_status(client, "/health", 200)
        # The pool works again for real queries, not only for the probe.
        changed = await client.put(
            "/admin/settings", json={"query_work_mem_mb": 64}, headers=bearer(make_token(admin=True))
        )
        assert changed.status_code == 200


async def test_a_query_while_postgres_is_down_is_503_service_unavailable(outage_settings, start_server, dependencies):
    async with start_server(outage_settings) as running, running.client() as client:
        await asyncio.to_thread(dependencies.postgres.stop)
        try:
            response = await client.put(
                "/admin/settings", json={"query_work_mem_mb": 32}, headers=bearer(make_token(admin=True))
            )
        finally:
            await asyncio.to_thread(dependencies.postgres.restart)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert response.json()["error"]["is_retryable"] is True
        await wait_for_status(client, "/readiness", 200)


async def test_probes_answer_503_while_redis_is_down_and_200_after_it_restarts(
    outage_settings, start_server, dependencies
):
    async with start_server(outage_settings) as running, running.client() as client:
        assert (await client.get("/readiness")).status_code == 200
        port = dependencies.redis.port
        await asyncio.to_thread(dependencies.redis.stop)
        try:
            for path in ("/readiness", "/health"):
                assert_unavailable(await wait_for_status(client, path, 503), "redis")
        finally:
            await asyncio.to_thread(dependencies.redis.start)
        assert dependencies.redis.port == port, "a restarted Redis must keep its address"
        await wait_for_status(client, "/readiness", 200)
        await wait_for_status(client, "/health", 200)


async def test_creating_a_session_while_postgres_is_down_is_a_retryable_503(
    outage_settings, start_server, dependencies
):
    async with start_server(outage_settings) as running, running.client() as client:
        user = bearer(make_token("someone"))
        await asyncio.to_thread(dependencies.postgres.stop)
        try:
            response = await client.post("/session", headers=user)
        finally:
            await asyncio.to_thread(dependencies.postgres.restart)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "SESSION_CREATION_FAILED"
        assert response.json()["error"]["is_retryable"] is True
        assert response.headers["Retry-After"] == "1"
        await wait_for_status(client, "/readiness", 200)
        status = await client.get("/admin/sessions/status", headers=bearer(make_token(admin=True)))
        assert status.json()["data"]["active_sessions"] == 0
