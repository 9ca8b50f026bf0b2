"""The shard channels a replica follows on a Redis Cluster, each node's read by a task of its own.

On a cluster a session's notes go to a shard channel (``SSUBSCRIBE``), which lives on the node that owns the
session's hash slot (see :mod:`app.live.cluster`). redis-py keeps one subscription, and so one connection, per node.
This module reads them and keeps follows and unfollows from racing those reads, and it closes subscriptions
without waiting on a Redis that is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, ClusterPubSub, RedisCluster
from redis.exceptions import RedisClusterException, RedisError

_log = logging.getLogger("msr.cluster")

LISTEN_WAIT_S: Final = 0.1
"""How long one read of a subscription waits for a note: the longest a follow waits for the reader to let go of
the subscription's connection (see ``PlaybackCluster._subscription`` and :meth:`ShardSubscriptions._lock`)."""
CLOSE_TIMEOUT_S: Final = 1.0
"""The longest a shutdown waits for Redis to let go of a subscription."""


@dataclass(frozen=True, slots=True)
class _NodeName:
    """What ``ClusterPubSub.get_sharded_message`` reads of its ``target_node``: the node's name."""

    name: str


def node_of(client: Redis | RedisCluster, channel: str) -> ClusterNode:
    """The cluster node that owns the slot of a shard channel."""
    assert isinstance(client, RedisCluster)
    node = client.get_node_from_key(channel)
    if node is None:
        raise RedisClusterException(f"no node serves the slot of {channel}")
    return node


class ShardSubscriptions:
    """This replica's shard channels, and a reader per node that hands each message to ``receive``."""

    def __init__(self, client: RedisCluster, receive: Callable[[dict[str, Any] | None], None]) -> None:
        self._client = client
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._receive = receive
        self._readers: dict[str, asyncio.Task[None]] = {}
        """One reader per node whose shard channels this replica follows, by node name."""
        self._locks: dict[str, asyncio.Lock] = {}

    async def subscribe(self, channel: str) -> None:
        """Follow a shard channel, and read its node."""
        async with self._lock(node_of(self._client, channel).name):
            await self._pubsub.ssubscribe(channel)
        self.start_readers()

    async def unsubscribe(self, channel: str) -> None:
        """Stop following a shard channel."""
        async with self._lock(node_of(self._client, channel).name):
            await self._pubsub.sunsubscribe(channel)

    def start_readers(self) -> None:
        """A reader for every node holding shard subscriptions of this replica that has none yet.

        redis-py's ``get_sharded_message`` without a node polls the nodes in turn, each up to its timeout, so one
        quiet node would hold back the frames of the others: each node gets a reader of its own instead. The client
        moves the subscriptions to the new owner of a slot after a failover or resharding; the cluster's listener
        calls this after each of its reads (every ``LISTEN_WAIT_S`` at least while Redis answers), so such a node
        gets its reader too.
        """
        for name in self._nodes():
            reader = self._readers.get(name)
            if reader is None or reader.done():
                self._readers[name] = asyncio.create_task(self._read(name), name=f"msr:shard:{name}")

    async def close(self) -> None:
        """Stop every reader (cancelled and awaited) and drop the subscriptions."""
        readers = list(self._readers.values())
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await drop_subscription(self._pubsub)

    def _lock(self, name: str) -> asyncio.Lock:
        """Held by whoever uses the node's subscription: its reader, follows and unfollows.

        The node's subscription is one connection, which each of them connects again when it is down, and redis-py's
        asyncio ``Connection.connect`` is not safe for two callers at once (see ``PlaybackCluster._subscription``).
        """
        return self._locks.setdefault(name, asyncio.Lock())

    def _nodes(self) -> dict[str, PubSub]:
        """The per-node subscriptions, by node name."""
        return self._pubsub.node_pubsub_mapping

    async def _read(self, name: str) -> None:
        node = _NodeName(name)
        while name in self._nodes():
            try:
                async with self._lock(name):
                    message = await self._pubsub.get_sharded_message(timeout=LISTEN_WAIT_S, target_node=node)  # type: ignore[arg-type]
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                _log.warning("lost the sharded subscription on %s; reconnecting", name, exc_info=True)
                await asyncio.sleep(0.5)
                continue
            self._receive(message)


async def drop_subscription(pubsub: PubSub) -> None:
    """Close a subscription (plain or a cluster's), bounded.

    PubSub.aclose() disconnects waiting for StreamWriter.wait_closed(), which never returns when Redis died under
    the open subscription (redis/redis-py#3941): that await hung a shutdown for half an hour. Drop the connections
    without waiting first, so the close has nothing left to wait for; and bound it anyway.
    """
    nodes = pubsub.node_pubsub_mapping.values() if isinstance(pubsub, ClusterPubSub) else ()
    with contextlib.suppress(RedisError, OSError, TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            for connection in (pubsub.connection, *(node.connection for node in nodes)):
                if connection is not None:
                    await connection.disconnect(nowait=True)
            await pubsub.aclose()  # type: ignore[no-untyped-call]
