"""Who is playing and watching what, across replicas: ``GET /admin/sessions/live``.

Each replica writes, about once a second, one snapshot of its live sessions to Redis (``{presence}:replica:<id>``,
expiring after :data:`TTL_S`) and notes itself in a sorted set of replicas scored by that expiry. A reader takes
the replicas not expired, reads their snapshots in one ``MGET`` and merges them per session: the clock as the
replica owning it says (advanced to now when playing), and the viewers of every replica. A replica that dies
drops out within :data:`TTL_S`; one that shuts down removes itself at once. The keys share the ``{presence}`` hash
tag, so a Redis Cluster keeps them in one slot.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
from redis.exceptions import RedisError

from app.coordination.redis import RedisConnection
from app.web import rfc3339
from playback.instants import format_timestamp
from playback.ports import ClockStatus
from playback.runner import Viewer

if TYPE_CHECKING:
    # The hub imports ViewerInfo from here; this module only reads the hub.
    from app.live.registry import LiveRegistry

PUBLISH_EVERY_S = 1.0
"""How often a replica writes its snapshot."""
TTL_S = 3.0
"""How long a snapshot lives without being written again."""


@dataclass(frozen=True, slots=True)
class ViewerInfo:
    """Who a viewer is and since when (recorded by the hub at attach)."""

    user_id: str
    access: str
    since: float


ViewerRegistry = weakref.WeakKeyDictionary[Viewer, ViewerInfo]
"""The hub's viewers' identities; an entry goes with its viewer."""


class _Viewer(msgspec.Struct):
    user_id: str
    access: str
    since: float
    frames_behind: int
    conflated: int
    resynced: int


class _Session(msgspec.Struct):
    session_id: str
    tenant_id: str
    kind: str
    owned: bool
    state: str
    speed: float
    position: int
    start: int
    end: int
    wall_time: float
    viewers: list[_Viewer]


class _Snapshot(msgspec.Struct):
    replica: str
    at: float
    sessions: list[_Session]


def _snapshot(hub: LiveRegistry) -> _Snapshot:
    sessions: list[_Session] = []
    for live in hub.live_sessions():
        clock = live.now()
        viewers = [
            _Viewer(
                info.user_id,
                info.access,
                info.since,
                viewer.outbox.pending_frames,
                viewer.outbox.conflations,
                viewer.outbox.resyncs,
            )
            for viewer in live.viewers
            if (info := hub.viewer_info.get(viewer)) is not None
        ]
        owned = live.owner is not None
        if not viewers and not (owned and clock.state == "playing"):
            continue
        sessions.append(
            _Session(
                str(live.session_id),
                str(live.tenant_id),
                live.kind,
                owned,
                clock.state,
                clock.speed,
                clock.position,
                clock.start,
                clock.end,
                clock.wall_time,
                viewers,
            )
        )
    return _Snapshot(hub.replica_id, time.time(), sessions)


def _time(seconds: float) -> str:
    return rfc3339(datetime.fromtimestamp(seconds, UTC))


class Presence:
    """This replica's presence in Redis, and the merged view of every replica's."""

    def __init__(self, redis: RedisConnection, hub: LiveRegistry) -> None:
        self._redis = redis
        self._hub = hub
        self._replicas = redis.key("{presence}", "replicas")

    def _key(self, replica: str) -> str:
        return self._redis.key("{presence}", "replica", replica)

    async def record(self) -> None:
        """Write this replica's snapshot (periodic)."""
        snapshot = _snapshot(self._hub)
        expires_ms = round((snapshot.at + TTL_S) * 1000)
        async with self._redis.client.pipeline(transaction=True) as pipe:
            pipe.set(self._key(snapshot.replica), msgspec.json.encode(snapshot), px=round(TTL_S * 1000))
            pipe.zadd(self._replicas, {snapshot.replica: expires_ms})
            pipe.zremrangebyscore(self._replicas, "-inf", round(time.time() * 1000))
            await pipe.execute()

    async def forget(self) -> None:
        """Remove this replica's snapshot (at shutdown)."""
        replica = self._hub.replica_id
        # With Redis gone there is nothing to remove (the snapshot expires by itself); raising here would abort the
        # rest of the shutdown (the loops, Redis and the pool left open), which then overran its bound.
        with contextlib.suppress(RedisError, OSError):
            async with self._redis.client.pipeline(transaction=True) as pipe:
                pipe.delete(self._key(replica))
                pipe.zrem(self._replicas, replica)
                await pipe.execute()

    async def list(self, tenant_id: str | None) -> list[dict[str, Any]]:
        """Every session played or watched now on any replica (of ``tenant_id`` when given), newest viewer last."""
        now = time.time()
        replicas = await self._redis.client.zrangebyscore(self._replicas, round(now * 1000), "+inf")
        if not replicas:
            return []
        names = [r.decode() if isinstance(r, bytes) else str(r) for r in replicas]
        raw = await self._redis.client.mget([self._key(name) for name in names])
        merged: dict[str, dict[str, Any]] = {}
        for blob in raw:
            if blob is None:
                continue
            snapshot = msgspec.json.decode(blob, type=_Snapshot)
            for session in snapshot.sessions:
                if tenant_id is not None and session.tenant_id != tenant_id:
                    continue
                entry = merged.setdefault(session.session_id, _entry(session))
                if session.owned:
                    entry |= _clock(session, snapshot.replica, now)
                entry["viewers"].extend(_viewer_json(viewer, snapshot.replica) for viewer in session.viewers)
        for entry in merged.values():
            entry["viewers"].sort(key=lambda viewer: viewer["since"])
        return sorted(merged.values(), key=lambda entry: entry["session_id"])


def _entry(session: _Session) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "tenant_id": session.tenant_id,
        "kind": session.kind,
        **_clock(session, None, time.time()),
        "range": {"start": format_timestamp(session.start), "end": format_timestamp(session.end)},
        "viewers": [],
    }


def _clock(session: _Session, owner: str | None, now: float) -> dict[str, Any]:
    clock = ClockStatus(
        "playing" if session.state == "playing" else "ended" if session.state == "ended" else "paused",
        session.position,
        session.speed,
        session.start,
        session.end,
        session.wall_time,
    )
    return {
        "owner_replica": owner,
        "state": clock.state,
        "speed": clock.speed,
        "position": format_timestamp(clock.position_at(now)),
    }


def _viewer_json(viewer: _Viewer, replica: str) -> dict[str, Any]:
    return {
        "user_id": viewer.user_id,
        "access": viewer.access,
        "replica": replica,
        "since": _time(viewer.since),
        "frames_behind": viewer.frames_behind,
        "conflated": viewer.conflated,
        "resynced": viewer.resynced,
    }
