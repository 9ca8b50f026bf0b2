"""Builders of engine values for the playback tests."""

from __future__ import annotations

import msgspec

from playback.frames import ChangeEvent, Op


def event(
    seq: int,
    timestamp: int,
    entity: str = "e1",
    op: Op = "u",
    *,
    table: str = "public.vehicles",
    state: object | None = None,
) -> ChangeEvent:
    """A change event; its state defaults to ``{"seq": seq}`` (null for a delete)."""
    if state is None and op != "d":
        state = {"seq": seq}
    raw = None if state is None else msgspec.Raw(msgspec.json.encode(state))
    return ChangeEvent(seq=seq, timestamp=timestamp, table_name=table, entity_id=entity, op=op, entity_state=raw)
