"""The Redis connection shared by the replica's coordination code (limits, leases, control, fan-out)."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError


class RedisConnection:
    """A redis-py asyncio client plus the key prefix of this deployment."""

    def __init__(self, url: str, prefix: str) -> None:
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=5.0,
            socket_connect_timeout=2.0,
            health_check_interval=15,
            decode_responses=False,
            # A pooled connection can be dead after a Redis restart; one quick retry on a fresh one hides that.
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
            retry_on_error=[RedisConnectionError],
        )
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
        """Close the client's connections."""
        await self.client.aclose()
