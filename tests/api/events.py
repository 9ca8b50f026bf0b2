"""Helpers of the ingest API tests."""

import uuid
from datetime import UTC, datetime, timedelta

from store.events import EventFilters, EventStore, StoredEvent

T0 = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)


def event(i: int = 0, **changes) -> dict:
    """A valid change event; ``changes`` replace fields (a value of ... removes the field)."""
    body = {
        "entity_id": f"e-{i}",
        "table_name": "public.vehicles",
        "op": "c",
        "entity_state": {"i": i, "geometry": {"type": "Point", "coordinates": [103.8, 1.35]}},
        "event_timestamp": (T0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not ...}


async def everything(store: EventStore, tenant: uuid.UUID) -> list[StoredEvent]:
    """Every stored event of the tenant, in order."""
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    return [item async for chunk in store.events_between(tenant, start, end, EventFilters()) for item in chunk]
