"""MSR_REDIS_URL: which topology each scheme names, and what is read from it (no server is contacted)."""

from __future__ import annotations

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import SentinelConnectionPool

from app.coordination.redis import RedisConnection
from app.settings import ConfigError, Settings


async def test_a_cluster_url_lists_its_startup_nodes_and_credentials():
    redis = RedisConnection("redis+cluster://ops:s%40cret@10.0.0.1:7000,[::1]:7001,redis-2", "p:")
    client = redis.client
    assert isinstance(client, RedisCluster)
    assert redis.clustered
    assert sorted(client.nodes_manager.startup_nodes) == ["10.0.0.1:7000", "::1:7001", "redis-2:6379"]
    node = client.nodes_manager.startup_nodes["10.0.0.1:7000"]
    assert (node.connection_kwargs["username"], node.connection_kwargs["password"]) == ("ops", "s@cret")
    await redis.close()


async def test_a_sentinel_url_names_its_sentinels_service_and_db():
    redis = RedisConnection("redis+sentinel://:pw@s1:26380,s2/msr-master/2", "p:")
    pool = redis.client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert not redis.clustered
    assert pool.service_name == "msr-master"
    assert (pool.connection_kwargs["db"], pool.connection_kwargs["password"]) == (2, "pw")
    sentinels = [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
        for s in pool.sentinel_manager.sentinels
    ]
    assert sentinels == [("s1", 26380), ("s2", 26379)]
    await redis.close()


@pytest.mark.parametrize(
    "url",
    ["redis+sentinel://s1:26379", "redis+cluster://", "redis+cluster://h:port", "redis+sentinel://s1/svc/zero"],
    ids=["sentinel-without-service", "cluster-without-nodes", "port-not-a-number", "db-not-a-number"],
)
def test_a_topology_url_that_names_nothing_usable_is_refused_at_start_naming_the_variable(url):
    with pytest.raises(ValueError, match=r"host:port|service|not a number"):
        RedisConnection(url, "p:")
    with pytest.raises(ConfigError, match=r"^MSR_REDIS_URL names"):
        Settings(redis_url=url)


def test_the_settings_accept_the_topology_schemes_and_refuse_others():
    for url in ("redis+cluster://h:7000", "rediss+cluster://h:7000", "redis+sentinel://h/svc"):
        assert Settings(redis_url=url).redis_url == url
    with pytest.raises(ConfigError, match="MSR_REDIS_URL"):
        Settings(redis_url="cluster://h:7000")
