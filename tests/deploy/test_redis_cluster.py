"""MSR on a Redis Cluster and behind Sentinel: ``MSR_REDIS_URL=redis+cluster://...`` and ``redis+sentinel://...``.

A real three-master cluster and a real master watched by a sentinel, from the machine's ``redis-server`` (see
tests/deploy/redis_servers.py). On the cluster, two replicas: the session limit stays exact under a burst of
creates spread over both; a session owned by one replica (a real ``msr serve`` process) and driven through the
other plays on both, its notes travel on a shard channel of the node owning its slot (never a cluster-wide
channel), and when the owner is killed the other takes the lease over and its viewer goes on.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator

import httpx
import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from app.settings import Settings
from tests.deploy.redis_servers import SENTINEL_SERVICE, missing, redis_cluster, redis_sentinel
from tests.deploy.support import Fleet
from tests.live.support import TENANT, Watcher, ingest, make_history, new_session, of_type, open_socket, recent_start
from tests.support import bearer, make_token

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))

LEASE_S = 1.5
TOKEN = make_token("viewer-1", TENANT)
ADMIN = bearer(make_token("boss", TENANT, admin=True))


@pytest.fixture(scope="module")
def cluster_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    with redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as ports:
        yield ports


@pytest.fixture
def cluster_settings(settings: Settings, cluster_ports: list[int]) -> Settings:
    # Two of the three nodes: the client learns the third from them.
    nodes = ",".join(f"127.0.0.1:{port}" for port in cluster_ports[:2])
    return settings.replace(
        redis_url=f"redis+cluster://{nodes}", playback_lease_s=LEASE_S, ws_resume_wait_ms=100, ws_auth_timeout_s=1.0
    )


async def test_the_session_limit_is_exact_under_concurrent_creates_on_two_replicas(cluster_settings, start_server):
    limit, creates = 10, 80
    async with start_server(cluster_settings) as a, start_server(cluster_settings) as b, a.client() as ca:
        assert (await ca.put("/admin/settings", json={"max_active_sessions": limit}, headers=ADMIN)).status_code == 200
        async with b.client() as cb:

            async def create(i: int) -> int:
                answer = await (ca, cb)[i % 2].post("/session", headers=bearer(make_token(f"burst-{i}", TENANT)))
                return answer.status_code

            codes = await asyncio.gather(*(create(i) for i in range(creates)))
            assert sorted(codes) == [201] * limit + [429] * (creates - limit)
            status = await cb.get("/admin/sessions/status", headers=ADMIN)
            assert status.json()["data"]["active_sessions"] == limit


async def test_a_session_driven_through_the_other_replica_fans_out_on_one_shard_and_fails_over(
    cluster_settings, cluster_ports, start_server, tmp_path
):
    history = make_history(recent_start(), seconds=30)
    fleet = Fleet(cluster_settings, tmp_path, MSR_PLAYBACK_LEASE_S=str(LEASE_S), MSR_WS_RESUME_WAIT_MS="100")
    try:
        owner = fleet.start("owner")
        async with start_server(cluster_settings) as other:
            await owner.ready()
            async with other.client() as client:
                await ingest(client, history)
                session_id = await new_session(client)
            # The first viewer, on the owner's replica, makes it the owner; the second, on the other, follows.
            on_owner = Watcher(await open_socket(owner.url, session_id, TOKEN), history)
            await on_owner.state_complete()
            on_other = Watcher(await open_socket(other.url, session_id, TOKEN), history)
            await on_other.state_complete()

            # Every subscription is cut (as when a node restarts): both replicas subscribe again by themselves.
            await _kill_subscriptions(cluster_ports)
            await asyncio.sleep(2.0)
            await on_other.send(type="start", speed=2.0, id="go")
            assert (await on_other.until(of_type("status", reply_to="go")))["state"] == "playing"
            await _frames(5, on_owner, on_other)
            await _assert_sharded(cluster_ports, f"{cluster_settings.redis_prefix}{{playback:{session_id}}}:notes")
            # Presence (a transaction and an MGET over the {presence} tag) sees both replicas' viewers.
            async with other.client() as client:
                await _until_watched_from(client, session_id, replicas=2)

            owner.process.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            await on_other.until(
                lambda m: m["type"] == "events" and on_other.frames[-1][0] > killed_at + 0.5, timeout=LEASE_S * 4
            )
            assert on_other.frames[-1][0] - killed_at < LEASE_S + 2.0
            on_other.assert_picture_true()
            # The other replica owns the session now: its commands apply there.
            await on_other.send(type="stop", id="halt")
            assert (await on_other.until(of_type("status", reply_to="halt")))["state"] == "paused"
            await on_other.ws.close()
            await on_owner.ws.close()
    finally:
        fleet.close()


async def _frames(count: int, *watchers: Watcher) -> None:
    """Every watcher has had ``count`` frames and sees the picture the history has at its position."""

    async def framed(watcher: Watcher) -> None:
        await watcher.until(lambda m: m["type"] == "events" and len(watcher.frames) >= count)
        watcher.assert_picture_true()

    await asyncio.gather(*(framed(watcher) for watcher in watchers))


async def _until_watched_from(client: httpx.AsyncClient, session_id: str, replicas: int) -> None:
    deadline = time.monotonic() + 5
    while True:
        listed = (await client.get("/admin/sessions/live", headers=ADMIN)).json()["data"]
        seen = {
            viewer["replica"] for entry in listed if entry["session_id"] == session_id for viewer in entry["viewers"]
        }
        if len(seen) == replicas:
            return
        assert time.monotonic() < deadline, listed
        await asyncio.sleep(0.2)


async def _kill_subscriptions(ports: list[int]) -> None:
    killed = 0
    for port in ports:
        async with aioredis.Redis(host="127.0.0.1", port=port) as node:
            killed += await node.client_kill_filter(_type="pubsub")
    assert killed >= 3, "each replica's plain subscription, and the follower's shard subscription"


async def _assert_sharded(ports: list[int], channel: str) -> None:
    """The channel is a shard channel of the node owning its slot, and a plain channel nowhere."""
    cluster = RedisCluster(host="127.0.0.1", port=ports[0])
    try:
        await cluster.initialize()
        home = cluster.get_node_from_key(channel)
        assert home is not None
    finally:
        await cluster.aclose()
    for port in ports:
        async with aioredis.Redis(host="127.0.0.1", port=port) as node:
            sharded = [c.decode() for c in await node.pubsub_shardchannels()]
            plain = [c.decode() for c in await node.pubsub_channels()]
        assert (channel in sharded) == (port == home.port), (port, home.port, sharded)
        assert channel not in plain


async def test_behind_sentinel_sessions_are_admitted_and_play(settings, start_server, tmp_path):
    history = make_history(recent_start(), seconds=10)
    with redis_sentinel(tmp_path / "sentinel") as (master_port, sentinel):
        sentinel_settings = settings.replace(redis_url=f"redis+sentinel://127.0.0.1:{sentinel}/{SENTINEL_SERVICE}/0")
        async with start_server(sentinel_settings) as server, server.client() as client:
            assert (
                await client.put("/admin/settings", json={"max_active_sessions": 1}, headers=ADMIN)
            ).status_code == 200
            await ingest(client, history)
            session_id = await new_session(client)
            refused = await client.post("/session", headers=bearer(make_token("second", TENANT)))
            assert refused.status_code == 429, refused.text
            viewer = Watcher(await open_socket(server.url, session_id, TOKEN), history)
            await viewer.state_complete()
            await viewer.send(type="start", speed=4.0, id="go")
            await _frames(3, viewer)
            await viewer.ws.close()
        async with aioredis.Redis(host="127.0.0.1", port=master_port) as master:
            assert await master.exists(f"{sentinel_settings.redis_prefix}{{sessions}}:active")
