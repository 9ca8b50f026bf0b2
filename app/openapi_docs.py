"""How routes describe their answers in the OpenAPI document at ``/schema``.

The success envelope around a model, and the error envelope of SPEC section 7 for each status a route can answer.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec

_REASONS = {
    400: "bad parameter: VALIDATION_ERROR naming the field in details.field (or another 400 code of SPEC 7)",
    401: "UNAUTHORIZED: no valid bearer token",
    403: "FORBIDDEN: not an admin, or another tenant without the global admin role",
    404: "NOT_FOUND: no such resource for this caller (another tenant's resources do not exist for it)",
    409: "CONFLICT: the resource's state does not allow the request",
    503: "SERVICE_UNAVAILABLE: PostgreSQL or Redis is unreachable; retry",
}


class ErrorDetail(msgspec.Struct):
    """The ``error`` object of an error answer."""

    code: str
    message: str
    correlation_id: str
    is_retryable: bool
    action: str | None = None
    details: dict[str, Any] | None = None


class ErrorEnvelope(msgspec.Struct):
    """An error answer: ``{"error": {...}, "sent_at"}``."""

    error: ErrorDetail
    sent_at: str


class PageInfo(msgspec.Struct):
    """The ``page`` object of a list answer (seed 000's)."""

    number: int
    size: int
    total_records: int
    count: int
    sort: list[str] | None = None


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """The error answers a route can give, each in the error envelope."""
    return {
        status: ResponseSpec(data_container=ErrorEnvelope, description=_REASONS[status], generate_examples=False)
        for status in statuses
    }


def answer(model: Any, description: str) -> ResponseSpec:
    """A success answer whose body is ``model`` (an envelope struct)."""
    return ResponseSpec(data_container=model, description=description, generate_examples=False)
