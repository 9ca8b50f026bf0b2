"""Reads of the event store: filters, work_mem, chunks, and connections given back when a reader stops early."""

import asyncio
import uuid
from contextlib import aclosing

import pytest

from store.events import EventFilters, set_work_mem
from tests.store.model import Ev, at_minute, read_events, read_state


async def test_filter_tables_and_filter_min_timestamp_go_together():
    with pytest.raises(ValueError, match="together"):
        EventFilters(filter_tables=("public.a",))
    with pytest.raises(ValueError, match="together"):
        EventFilters(filter_min_timestamp=at_minute(0))


async def test_an_empty_list_of_tables_answers_nothing(events):
    tenant = uuid.uuid4()
    await events.ingest([Ev("public.a", "1", "c", at_minute(0), "{}").new(tenant)])
    nothing = EventFilters(tables=())
    assert await read_state(events, tenant, at_minute(1), nothing) == []
    assert await read_events(events, tenant, at_minute(-1), at_minute(1), nothing) == []


async def test_query_work_mem_is_set_for_the_read_transaction_only(db):
    async with db.connection() as conn:
        before = await conn.fetchval("SHOW work_mem")
        async with conn.transaction():
            await set_work_mem(conn, 77)
            assert await conn.fetchval("SHOW work_mem") == "77MB"
        assert await conn.fetchval("SHOW work_mem") == before
        with pytest.raises(ValueError, match="> 0"):
            await set_work_mem(conn, 0)


async def test_a_reader_that_stops_after_the_first_chunk_gives_its_connection_back(events, db):
    tenant = uuid.uuid4()
    await events.ingest([Ev("public.a", str(i), "c", at_minute(i), "{}").new(tenant) for i in range(50)])
    async with asyncio.timeout(10):
        for _ in range(10):  # more readers than the pool has connections
            async with aclosing(events.state_at(tenant, at_minute(60))) as chunks:
                async for chunk in chunks:
                    assert len(chunk) == 7
                    break
            async with aclosing(events.events_between(tenant, at_minute(-1), at_minute(60))) as chunks:
                async for chunk in chunks:
                    assert [item.entity_id for item in chunk] == [str(i) for i in range(7)]
                    break
