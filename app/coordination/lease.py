"""Leases: a key held with a token for a while, renewed by its holder, given back by compare-and-delete.

One helper for every lease of a replica: the jobs' locks and the playback lease of each session played here.
A renewal extends the key while it still holds the holder's token. A lease that names its epoch counter (a playback
lease) is also taken back when it expired while its holder was slow but nobody took it since, so a replica never
loses a lease to nobody. Renewals can be queued on a pipeline, so a replica renews all its leases in one round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.coordination.redis import RedisConnection
from app.coordination.scripts import AnyPipeline, load_script, queue_script


@dataclass(frozen=True, slots=True)
class Held:
    """A lease as its holder knows it."""

    key: str
    token: str
    epoch_key: str | None = None
    """The lease's epoch counter, when the lease may be taken back after expiring (see the module)."""
    epoch: int = 0


class Leases:
    """Take, renew and give back leases (see the module)."""

    def __init__(self, redis: RedisConnection) -> None:
        self._client = redis.client
        self._renew = load_script(redis, "renew")
        self._release = load_script(redis, "release")

    async def take(self, key: str, token: str, ttl_ms: int) -> bool:
        """Take the lease if nobody holds it."""
        return bool(await self._client.set(key, token, nx=True, px=ttl_ms))

    async def renew(self, held: Held, ttl_ms: int) -> bool:
        """Extend the lease; False when its holder lost it."""
        return (await self.renew_all([held], ttl_ms))[0]

    async def renew_all(self, held: Sequence[Held], ttl_ms: int) -> list[bool]:
        """Extend every lease in one round trip; for each, whether it is still held."""
        if not held:
            return []
        # As a context manager, the pipeline gives its connection back even when Redis fails or the round is
        # cancelled (a timeout): a bare pipeline keeps it, and leaks one connection per failed round.
        async with self._client.pipeline(transaction=False) as pipe:
            await self.queue_renewals(pipe, held, ttl_ms)
            return [bool(kept) for kept in await pipe.execute()]

    async def queue_renewals(self, pipe: AnyPipeline, held: Sequence[Held], ttl_ms: int) -> None:
        """Queue the renewals of ``held`` on ``pipe`` (one answer each, in order)."""
        for lease in held:
            keys = [lease.key] if lease.epoch_key is None else [lease.key, lease.epoch_key]
            await queue_script(pipe, self._renew, keys, [lease.token, ttl_ms, lease.epoch])

    async def release(self, key: str, token: str) -> bool:
        """Give the lease back, unless another holder has it by now; whether this call released it."""
        return bool(await self._release(keys=[key], args=[token]))
