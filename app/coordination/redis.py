"""The Redis connection shared by the replica's coordination code (limits, leases, control, fan-out).

``MSR_REDIS_URL`` names one of three topologies (docs/deploy.md has the details):

- ``redis://``, ``rediss://``, ``unix://``: one Redis server (redis-py's own URL syntax).
- ``redis+cluster://[user:password@]host:port[,host:port...]`` (``rediss+cluster://`` for TLS): a Redis Cluster,
  reached through any of the listed nodes (the client learns the others and the slot map from them).
- ``redis+sentinel://[user:password@]host:port[,host:port...]/service[/db]``: the master that the listed
  Sentinels know as ``service``; the credentials are the master's, the Sentinels are reached without.

Every key a multi-key script, transaction or pipeline touches together shares one hash tag (``{...}``), so the code
above runs the same on all three; :attr:`RedisConnection.clustered` tells the fan-out to use sharded pub/sub.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

CLUSTER_SCHEMES: Final = ("redis+cluster", "rediss+cluster")
SENTINEL_SCHEME: Final = "redis+sentinel"
_DEFAULT_PORT: Final = 6379
_DEFAULT_SENTINEL_PORT: Final = 26379

RedisClient = aioredis.Redis | RedisCluster
"""A client of one server (plain or behind Sentinel) or of a cluster: the commands MSR uses exist on both."""


class RedisConnection:
    """A redis-py asyncio client plus the key prefix of this deployment."""

    def __init__(self, url: str, prefix: str) -> None:
        options: dict[str, Any] = {
            "socket_timeout": 5.0,
            "socket_connect_timeout": 2.0,
            "health_check_interval": 15,
            "decode_responses": False,
            # A pooled connection can be dead after a Redis restart; one quick retry on a fresh one hides that.
            "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
            "retry_on_error": [RedisConnectionError],
        }
        parts = urlsplit(url)
        credentials = _credentials(parts.netloc)
        self.clustered = parts.scheme in CLUSTER_SCHEMES
        """Whether this is a Redis Cluster (sessions' notes then travel over sharded pub/sub)."""
        self.client: RedisClient
        self._sentinels: list[aioredis.Redis] = []
        if self.clustered:
            self.client = RedisCluster(
                startup_nodes=[ClusterNode(host, port) for host, port in _hosts(parts.netloc, _DEFAULT_PORT)],
                ssl=parts.scheme == "rediss+cluster",
                **credentials,
                **options,
            )
        elif parts.scheme == SENTINEL_SCHEME:
            service, db = _sentinel_service(parts.path)
            sentinels = Sentinel(  # type: ignore[no-untyped-call]
                _hosts(parts.netloc, _DEFAULT_SENTINEL_PORT),
                sentinel_kwargs={"socket_timeout": 2.0, "socket_connect_timeout": 2.0},
            )
            self.client = sentinels.master_for(service, db=db, **credentials, **options)
            self._sentinels = list(sentinels.sentinels)
        else:
            self.client = aioredis.Redis.from_url(url, **options)
        self.prefix = prefix

    def key(self, *parts: str) -> str:
        """A key under this deployment's prefix."""
        return self.prefix + ":".join(parts)

    async def ping(self, timeout_s: float = 1.0) -> bool:
        """Whether Redis answers PING within the timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                return bool(await self.client.ping())
        except (RedisError, OSError, TimeoutError):
            return False

    async def close(self) -> None:
        """Close the client's connections (and the Sentinels')."""
        await self.client.aclose()
        for sentinel in self._sentinels:
            await sentinel.aclose()


def check_url(url: str) -> None:
    """Raise ValueError, saying what is wrong, when a cluster or Sentinel URL names no usable hosts or service.

    Settings call it at start, so that a malformed topology stops the server with a message naming the variable.
    """
    parts = urlsplit(url)
    if parts.scheme in CLUSTER_SCHEMES:
        _hosts(parts.netloc, _DEFAULT_PORT)
    elif parts.scheme == SENTINEL_SCHEME:
        _hosts(parts.netloc, _DEFAULT_SENTINEL_PORT)
        _sentinel_service(parts.path)


def _sentinel_service(path: str) -> tuple[str, int]:
    """The service name and database number of a Sentinel URL's path, ``/service[/db]``."""
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise ValueError("names no service: redis+sentinel://host:port/service[/db]")
    if db and not db.isdigit():
        raise ValueError(f"names database {db!r}, which is not a number")
    return service, int(db or 0)


def _hosts(netloc: str, default_port: int) -> list[tuple[str, int]]:
    """The ``host:port`` list of a cluster or Sentinel URL (``[v6]:port`` allowed)."""
    hosts: list[tuple[str, int]] = []
    for item in netloc.rpartition("@")[2].split(","):
        if item.startswith("["):
            host, _, port = item[1:].partition("]")
            port = port.removeprefix(":")
        else:
            host, _, port = item.partition(":")
        if not host or not (port.isdigit() or not port):
            raise ValueError(f"names {item!r}, which is not host:port")
        hosts.append((host, int(port) if port else default_port))
    return hosts


def _credentials(netloc: str) -> dict[str, Any]:
    """The username and password of the URL, as redis-py reads them from a plain URL."""
    userinfo, at, _ = netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    credentials: dict[str, Any] = {"username": unquote(user)} if at and user else {}
    if colon:
        credentials["password"] = unquote(password)
    return credentials
