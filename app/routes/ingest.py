"""Recording (SPEC section 6): ``POST /v1/ingest/events`` and ``POST /v1/ingest/debezium``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, post
from litestar.params import QueryParameter

from app import metrics
from app.domain.debezium import parse_debezium
from app.domain.ingest import IngestBatch, IngestLimits, parse_events
from app.errors import ApiError, DomainError, ErrorCode, answer_of
from app.openapi_docs import Instant, answer
from app.services import PrincipalDep, ServicesDep
from app.web import envelope, rfc3339, utc_now
from store.errors import BeforeRetainedHistoryError

Count = Annotated[int, msgspec.Meta(ge=0)]


class IngestCounts(msgspec.Struct):
    """How many events of the batch were stored, and how many were stored already (and so not again)."""

    accepted: Count
    duplicates: Count


class IngestEnvelope(msgspec.Struct):
    """What a batch stored."""

    data: IngestCounts
    message: str
    sent_at: Instant


class DebeziumCounts(IngestCounts):
    """Also the messages skipped (tombstones, transaction records, heartbeats, ...) and entities truncates deleted."""

    skipped: Count
    truncated: Count


class DebeziumEnvelope(msgspec.Struct):
    """What a batch of Debezium messages stored."""

    data: DebeziumCounts
    message: str
    sent_at: Instant


_KEY_COLUMN = r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$"


@asynccontextmanager
async def _counted(source: str) -> AsyncIterator[None]:
    try:
        yield
    except DomainError as exc:
        metrics.ingest_rejected(source, answer_of(exc).code.value)
        raise


def _limits(services: ServicesDep) -> IngestLimits:
    settings = services.settings
    return IngestLimits(settings.max_event_bytes, settings.max_state_depth)


async def _store(services: ServicesDep, batch: IngestBatch, source: str) -> Response[dict[str, Any]]:
    debezium = source == "debezium"
    try:
        result = await services.events.ingest(batch.events)
    except BeforeRetainedHistoryError as exc:
        raise ApiError(
            400,
            ErrorCode.TIMESTAMP_OUT_OF_RANGE,
            f"row {exc.row}: event_timestamp is at or before {rfc3339(exc.retained_from)}, where retention cut the "
            "tenant's history; nothing of the batch was stored",
            details={"row": exc.row, "field": "event_timestamp", "earliest": rfc3339(exc.retained_from)},
        ) from None
    metrics.ingest_stored(source, stored=result.accepted, duplicates=result.duplicates, skipped=batch.skipped)
    message = f"stored {result.accepted} events, {result.duplicates} already stored"
    data: dict[str, Any] = {"accepted": result.accepted, "duplicates": result.duplicates}
    if debezium:
        data |= {"skipped": batch.skipped, "truncated": result.truncated}
        if result.truncated:
            message += f", {result.truncated} entities deleted by truncates"
        if batch.skipped:
            kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(batch.skipped_kinds.items()))
            message += f", {batch.skipped} skipped ({kinds})"
    return envelope(data, message)


@post(
    "/v1/ingest/events",
    tags=["ingest"],
    summary="Record change events",
    status_code=200,
    responses={200: answer(IngestEnvelope, "the batch is stored")},
)
async def ingest_events(
    principal: PrincipalDep, services: ServicesDep, request: Request[Any, Any, Any]
) -> Response[dict[str, Any]]:
    """Store a batch of change events (a JSON array, or NDJSON) for the caller's tenant, all or nothing.

    Idempotent: events already stored (same ``event_id``, or same ``table_name, entity_id, op,
    event_timestamp`` without one) are counted as duplicates and not stored again.
    """
    async with _counted("events"):
        body = await request.body()
        content_type = request.headers.get("content-type")
        batch = await parse_events(body, content_type, principal, utc_now(), _limits(services))
        return await _store(services, batch, "events")


@post(
    "/v1/ingest/debezium",
    tags=["ingest"],
    summary="Record Debezium change events",
    status_code=200,
    responses={200: answer(DebeziumEnvelope, "the batch is stored")},
)
async def ingest_debezium(
    principal: PrincipalDep,
    services: ServicesDep,
    request: Request[Any, Any, Any],
    key: Annotated[str, QueryParameter(description="the row column holding the entity id", pattern=_KEY_COLUMN)] = "id",
    keys: Annotated[
        str | None, QueryParameter(description="per-table key columns: schema.table:column, comma separated")
    ] = None,
) -> Response[dict[str, Any]]:
    """Store what Debezium Server's HTTP sink posts (one message, or a JSON array) for the caller's tenant.

    All or nothing, idempotently. Row changes are recorded, truncates delete their table's entities, and
    tombstones, transaction records, heartbeats, logical-decoding messages and schema changes are skipped and
    counted (``skipped``); see docs/recording.md.
    """
    async with _counted("debezium"):
        body = await request.body()
        content_type = request.headers.get("content-type")
        batch = await parse_debezium(body, content_type, principal.tenant_id, utc_now(), _limits(services), key, keys)
        return await _store(services, batch, "debezium")


ROUTES = [ingest_events, ingest_debezium]
