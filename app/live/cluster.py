"""How the replicas share live playback through Redis.

- **Lease**: one replica owns a session's clock. It takes the key ``{playback:<id>}:lease`` with a new epoch (the
  token ``<replica>:<epoch>``); it renews all its leases in one pipelined round every third of
  ``MSR_PLAYBACK_LEASE_S`` (:mod:`app.coordination.lease`), takes back a lease that expired while nobody took it,
  and stops playing only once another replica holds it. Another replica takes a lease only once it has expired.
- **Checkpoint and fan-out**: the owner writes the clock (state, position at a wall time, speed, and where its
  frames end) to ``{playback:<id>}:clock`` and publishes its notes (frames, resets, status, ended) on the session's
  channel, both through one Lua script that refuses a stale owner (its token no longer holds the lease).
- **Followers**: a replica with viewers of a session it does not own subscribes to the session's channel and
  feeds its viewers from the notes. Frames (the heavy notes) are published only while some replica follows.
  On a Redis Cluster the session's channel is a shard channel (``SPUBLISH``/``SSUBSCRIBE``): it lives on the
  node that owns the session's hash slot, so a session's frames load one shard, where a plain ``PUBLISH`` would
  be relayed to every node of the cluster. The replica and termination channels stay plain pub/sub: they carry
  a few small notes per command or termination, so broadcasting them costs little, and a replica can then listen
  to them on any one node.
- **Commands**: a replica sends a viewer's command to the owner over the owner's replica channel and waits for
  the reply; a replica that starts following tells the owner so.
- **Termination**: the ids of terminated sessions are broadcast, so every replica closes its viewers.

The messages themselves are in :mod:`app.live.protocol`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import msgspec
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from app.coordination.lease import Held, Leases
from app.coordination.redis import RedisConnection
from app.coordination.scripts import AnyPipeline, load_script
from app.errors import DomainError, NotOwnerError, refusal, refusal_code
from app.live.protocol import (
    Checkpoint,
    Command,
    CommandNote,
    FollowNote,
    ReplicaNote,
    ReplyNote,
    SessionNote,
    TerminatedNote,
    checkpoints,
    encoder,
    replica_notes,
    session_notes,
    terminated_notes,
)
from app.live.shards import LISTEN_WAIT_S, ShardSubscriptions, drop_subscription, node_of
from playback.errors import PlaybackError

_log = logging.getLogger("msr.cluster")
_CHECKPOINT_TTL_MS: Final = 24 * 3600 * 1000
ENDED_EPOCH_KEEP_S: Final = 24 * 3600
"""How long the epoch counter of an ended session is kept (see :meth:`PlaybackCluster.queue_terminated`)."""
REQUEST_TIMEOUT_S: Final = 3.0
"""How long a replica waits for the owner's reply to a forwarded command."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A session's lease as this replica holds it."""

    token: str

    @property
    def epoch(self) -> int:
        return int(self.token.rsplit(":", 1)[1])


@dataclass(frozen=True, slots=True)
class Renewal:
    """The outcome of one lease's renewal."""

    kept: bool
    """Whether the lease is still this replica's."""
    followers: int
    """How many replicas follow the session."""


class ClusterHandler(Protocol):
    """What the cluster calls back into (the hub)."""

    def on_session_note(self, session_id: uuid.UUID, note: SessionNote) -> None:
        """A note from the owner of a session this replica follows."""

    async def on_command(self, note: CommandNote) -> Checkpoint:
        """Apply another replica's command to a session owned here; the clock after it, or its refusal."""
        ...

    def on_follow(self, session_id: uuid.UUID) -> None:
        """Another replica follows a session owned here: its frames must be published."""

    async def on_terminated(self, session_ids: list[uuid.UUID]) -> None:
        """Sessions stopped being ACTIVE (told by the replica that ended them)."""


class PlaybackCluster:
    """This replica's side of the coordination; see the module's docstring."""

    def __init__(self, redis: RedisConnection, lease_s: float) -> None:
        self.replica_id = uuid.uuid4().hex
        self._redis = redis
        self._lease_ms = int(lease_s * 1000)
        self._leases = Leases(redis)
        self._acquire = load_script(redis, "playback_acquire")
        self._publish = load_script(redis, "playback_publish")
        self._pubsub = redis.client.pubsub(ignore_subscribe_messages=True)
        """The plain subscription: this replica's channel and the termination broadcast (and, off a cluster, the
        sessions followed here)."""
        self._subscription = asyncio.Lock()
        """Held by whoever uses the plain subscription once the listener runs: its reads, follows and unfollows.

        Each of them connects the subscription's one connection again when it is down (redis-py's retry does), and
        redis-py's asyncio ``Connection.connect`` is not safe for two callers at once: both open a socket, the second
        overwrites the first's reader and writer without closing it (after a Redis restart, the socket a replica
        left open; docs/reliability.md), and both read the handshake's answers from the one socket left, which
        raises RuntimeError ("readuntil() called while another coroutine is already waiting")."""
        self._sharded = redis.clustered
        client = redis.client
        self._shards = ShardSubscriptions(client, self._receive) if isinstance(client, RedisCluster) else None
        """On a cluster, the shard channels of the sessions followed here."""
        self._replica_channel = redis.key("playback", "replica", self.replica_id)
        self._terminated_channel = redis.key("playback", "terminated")
        self._followed: set[str] = set()
        self._replies: dict[str, asyncio.Future[ReplyNote]] = {}
        self._handler: ClusterHandler | None = None
        self._listener: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # Keys; the hash tag keeps a session's keys in one Redis Cluster slot.

    def _lease_key(self, session_id: uuid.UUID) -> str:
        return self._redis.key(f"{{playback:{session_id}}}", "lease")

    def _epoch_key(self, session_id: uuid.UUID) -> str:
        return self._redis.key(f"{{playback:{session_id}}}", "epoch")

    def _clock_key(self, session_id: uuid.UUID) -> str:
        return self._redis.key(f"{{playback:{session_id}}}", "clock")

    def channel(self, session_id: uuid.UUID) -> str:
        """The channel of a session's notes."""
        return self._redis.key(f"{{playback:{session_id}}}", "notes")

    # Lifecycle.

    async def start(self, handler: ClusterHandler) -> None:
        """Subscribe to this replica's channel and the termination broadcast, and start listening."""
        self._handler = handler
        await self._pubsub.subscribe(self._replica_channel, self._terminated_channel)
        self._listener = asyncio.create_task(self._listen(), name="msr:playback-cluster")

    async def close(self) -> None:
        """Stop listening; every task is cancelled and awaited."""
        tasks = [t for t in (self._listener, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for future in self._replies.values():
            future.cancel()
        await drop_subscription(self._pubsub)
        if self._shards is not None:
            await self._shards.close()

    # Leases.

    async def acquire(self, session_id: uuid.UUID) -> Lease | None:
        """The session's lease with a new epoch, or None while another replica holds it."""
        taken, token = await self._acquire(
            keys=[self._lease_key(session_id), self._epoch_key(session_id)], args=[self.replica_id, self._lease_ms]
        )
        return Lease(_text(token)) if taken == 1 else None

    async def renew_all(self, leases: Mapping[uuid.UUID, Lease]) -> dict[uuid.UUID, Renewal]:
        """Renew every lease held here, and count each session's followers, in one pipelined round trip."""
        if not leases:
            return {}
        ids = list(leases)
        held = [Held(self._lease_key(i), leases[i].token, self._epoch_key(i), leases[i].epoch) for i in ids]
        # A context manager, so that a failed or cancelled round gives its connection back (see lease.renew_all).
        async with self._redis.client.pipeline(transaction=False) as pipe:
            await self._leases.queue_renewals(pipe, held, self._lease_ms)
            for session_id in ids:
                self._count_subscribers(pipe, self.channel(session_id))
            answers = await pipe.execute()
        kept, counts = answers[: len(ids)], answers[len(ids) :]
        return {
            session_id: Renewal(bool(kept[n]), int(counts[n][0][1]) if counts[n] else 0)
            for n, session_id in enumerate(ids)
        }

    async def release(self, session_id: uuid.UUID, lease: Lease) -> None:
        """Give the lease up (only if still ours), so another replica may take over at once."""
        await self._leases.release(self._lease_key(session_id), lease.token)

    async def owner(self, session_id: uuid.UUID) -> str | None:
        """The replica holding the session's lease, if any."""
        token = await self._redis.client.get(self._lease_key(session_id))
        return None if token is None else _text(token).rsplit(":", 1)[0]

    async def checkpoint(self, session_id: uuid.UUID) -> Checkpoint | None:
        """The last clock an owner wrote for the session."""
        raw = await self._redis.client.get(self._clock_key(session_id))
        return None if raw is None else checkpoints.decode(raw)

    async def publish(
        self, session_id: uuid.UUID, lease: Lease, *, checkpoint: Checkpoint | None, note: bytes | None
    ) -> bool:
        """Write the checkpoint and publish the note, fenced by the lease; False when the lease is lost."""
        done = await self._publish(
            keys=[self._lease_key(session_id), self._clock_key(session_id)],
            args=[
                lease.token,
                b"" if checkpoint is None else encoder.encode(checkpoint),
                "" if note is None else self.channel(session_id),
                note or b"",
                _CHECKPOINT_TTL_MS,
                "SPUBLISH" if self._sharded else "PUBLISH",
            ],
        )
        return bool(done)

    async def followers(self, session_id: uuid.UUID) -> int:
        """How many replicas follow the session (subscribers of its channel)."""
        channel, client = self.channel(session_id), self._redis.client
        if self._sharded:
            counts = await client.pubsub_shardnumsub(channel, target_nodes=node_of(client, channel))
        else:
            counts = await client.pubsub_numsub(channel)
        return int(counts[0][1]) if counts else 0

    def _count_subscribers(self, pipe: AnyPipeline, channel: str) -> None:
        """Queue the count of the channel's subscribers (on a cluster, asked of the node that owns its slot)."""
        if self._sharded:
            pipe.pubsub_shardnumsub(channel, target_nodes=node_of(self._redis.client, channel))
        else:
            pipe.pubsub_numsub(channel)

    # Following.

    async def follow(self, session_id: uuid.UUID) -> None:
        """Receive the session's notes (and tell its owner, if any, to publish frames)."""
        channel = self.channel(session_id)
        if channel not in self._followed:
            self._followed.add(channel)
            if self._shards is not None:
                await self._shards.subscribe(channel)
            else:
                async with self._subscription:
                    await self._pubsub.subscribe(channel)
        owner = await self.owner(session_id)
        if owner is not None and owner != self.replica_id:
            await self._send(owner, FollowNote(str(session_id)))

    async def unfollow(self, session_id: uuid.UUID) -> None:
        """Stop receiving the session's notes."""
        channel = self.channel(session_id)
        if channel in self._followed:
            self._followed.discard(channel)
            if self._shards is not None:
                await self._shards.unsubscribe(channel)
            else:
                async with self._subscription:
                    await self._pubsub.unsubscribe(channel)

    # Commands.

    async def request(self, owner: str, session_id: uuid.UUID, actor: str, command: Command) -> Checkpoint:
        """Have the owner apply a command; its clock after it, or its refusal raised again as its own class."""
        request_id = uuid.uuid4().hex
        future: asyncio.Future[ReplyNote] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = future
        try:
            await self._send(owner, CommandNote(request_id, self.replica_id, str(session_id), actor, command))
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                reply = await future
        except TimeoutError:
            raise NotOwnerError("the session's server did not answer; retry") from None
        finally:
            self._replies.pop(request_id, None)
        if reply.checkpoint is None:
            raise refusal(reply.code or NotOwnerError.__name__, reply.message or "refused")
        return reply.checkpoint

    def queue_terminated(self, pipe: AnyPipeline, session_ids: list[uuid.UUID]) -> None:
        """Queue on ``pipe`` the end of these sessions: tell every replica, and drop their leases.

        A lease is dropped whoever holds it (even a stuck replica): the new epoch refuses the holder's next write.
        The epoch counter is then kept for a day, not for ever (a key per ended session would pile up): a stuck
        holder is refused long before, and a counter that is gone restarts from the clock, never going back.
        """
        pipe.publish(self._terminated_channel, encoder.encode(TerminatedNote([str(i) for i in session_ids])))
        for session_id in session_ids:
            pipe.delete(self._lease_key(session_id))
            pipe.incr(self._epoch_key(session_id))
            pipe.expire(self._epoch_key(session_id), ENDED_EPOCH_KEEP_S)

    async def _send(self, replica: str, note: ReplicaNote) -> None:
        await self._redis.client.publish(self._redis.key("playback", "replica", replica), encoder.encode(note))

    # Listening.

    async def _listen(self) -> None:
        resubscribe = False
        while True:
            try:
                async with self._subscription:
                    if resubscribe:
                        await self._resubscribe()
                        resubscribe = False
                    message = await self._pubsub.get_message(timeout=LISTEN_WAIT_S)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                # redis-py reconnects and subscribes again on the next read; notes published meanwhile are lost,
                # which followers survive (a frame that does not continue resynchronises its viewers). On a
                # cluster it would reconnect to the same node, which a failover may have removed: subscribe anew.
                _log.warning("lost the Redis subscription; reconnecting", exc_info=True)
                await asyncio.sleep(0.5)
                resubscribe = self._sharded
                continue
            self._receive(message)
            if self._shards is not None:
                self._shards.start_readers()

    async def _resubscribe(self) -> None:
        """Replace the plain subscription with one on a node the cluster has now."""
        stale, self._pubsub = self._pubsub, self._redis.client.pubsub(ignore_subscribe_messages=True)
        await drop_subscription(stale)
        await self._pubsub.subscribe(self._replica_channel, self._terminated_channel)

    def _receive(self, message: dict[str, Any] | None) -> None:
        if message is None or message.get("type") not in ("message", "smessage"):
            return
        try:
            self._dispatch(_text(message["channel"]), message["data"])
        except (msgspec.DecodeError, ValueError):
            _log.warning("ignoring a malformed playback note on %s", message["channel"])

    def _dispatch(self, channel: str, data: bytes) -> None:
        handler = self._handler
        assert handler is not None
        if channel == self._replica_channel:
            note = replica_notes.decode(data)
            match note:
                case ReplyNote():
                    future = self._replies.get(note.request_id)
                    if future is not None and not future.done():
                        future.set_result(note)
                case CommandNote():
                    self._spawn(self._answer(note))
                case FollowNote():
                    handler.on_follow(uuid.UUID(note.session_id))
        elif channel == self._terminated_channel:
            ids = [uuid.UUID(i) for i in terminated_notes.decode(data).session_ids]
            self._spawn(handler.on_terminated(ids))
        elif channel in self._followed:
            session_id = uuid.UUID(channel.split("{playback:", 1)[1].split("}", 1)[0])
            handler.on_session_note(session_id, session_notes.decode(data))

    async def _answer(self, note: CommandNote) -> None:
        handler = self._handler
        assert handler is not None
        try:
            reply = ReplyNote(note.request_id, checkpoint=await handler.on_command(note))
        except (DomainError, PlaybackError) as error:
            reply = ReplyNote(note.request_id, code=refusal_code(error), message=str(error))
        await self._send(note.reply_to, reply)

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except (RedisError, OSError):
                _log.warning("playback coordination step failed", exc_info=True)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
