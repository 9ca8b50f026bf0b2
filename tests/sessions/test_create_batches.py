"""Concurrent creates share one statement and one admission script: the limit stays exact, refused and abandoned
creates leave no trace (against real PostgreSQL and Redis)."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from app.auth import Principal
from app.coordination.admission import AdmissionControl
from app.coordination.redis import RedisConnection
from app.domain.sessions import SessionLiveness, SessionService
from app.errors import SessionLimitError
from store.pool import Database, PoolConfig
from store.sessions import SessionRepository

TENANT = uuid.UUID(int=11)


@pytest.fixture
async def service(database_url: str, redis_base_url: str) -> AsyncIterator[tuple[SessionService, Database]]:
    db = Database(PoolConfig(dsn=database_url, min_size=1, max_size=4))
    await db.open()
    redis = RedisConnection(redis_base_url, f"t{uuid.uuid4().hex[:10]}:")
    repository = SessionRepository(db)
    sessions = SessionService(repository, AdmissionControl(redis, repository), SessionLiveness(repository), 60.0)
    await sessions.sync_admission()
    yield sessions, db
    await sessions.close()
    await redis.close()
    await db.close()


def _user(i: int) -> Principal:
    return Principal(f"user-{i}", TENANT, frozenset(), is_admin=False)


async def _stored(db: Database) -> tuple[int, int]:
    async with db.connection() as conn:
        active = await conn.fetchval("SELECT count(*) FROM sessions WHERE status = 'ACTIVE'")
        created = await conn.fetchval("SELECT count(*) FROM session_activity WHERE action = 'created'")
    return active, created


async def test_a_burst_of_creates_admits_exactly_the_limit_and_refusals_leave_no_trace(service):
    sessions, db = service
    outcomes = await asyncio.gather(*(sessions.create(_user(i), 15) for i in range(60)), return_exceptions=True)
    admitted = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(admitted) == 15
    assert all(isinstance(o, SessionLimitError) for o in outcomes if isinstance(o, BaseException))
    # Each caller got its own session.
    assert sorted(row.user_id for row in admitted) == sorted({row.user_id for row in admitted})
    assert await _stored(db) == (15, 15)
    assert await sessions.count_active() == 15


async def test_a_create_whose_caller_went_away_leaves_no_session_and_no_slot(service):
    sessions, db = service
    kept = asyncio.create_task(sessions.create(_user(1), 2))
    gone = asyncio.create_task(sessions.create(_user(2), 2))
    await asyncio.sleep(0)  # both are queued for the batch about to run
    gone.cancel()
    await kept
    with pytest.raises(asyncio.CancelledError):
        await gone
    await sessions.close()
    assert await _stored(db) == (1, 1)
    # The abandoned session's slot is free again: with a limit of 2, one more create fits.
    assert (await sessions.create(_user(3), 2)).user_id == "user-3"
    with pytest.raises(SessionLimitError):
        await sessions.create(_user(4), 2)
