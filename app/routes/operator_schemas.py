"""The shapes of the operator API's answers, for the OpenAPI document (the routes build plain dicts of them)."""

from __future__ import annotations

from typing import Any

import msgspec

from app.openapi_docs import PageInfo


class JobProgress(msgspec.Struct):
    """Steps done of total (null for jobs that only report a fraction), and the fraction 0..1."""

    done: int | None
    total: int | None
    fraction: float


class JobModel(msgspec.Struct):
    """A background job."""

    id: str
    kind: str
    tenant_id: str | None
    status: str
    progress: JobProgress
    cancel_requested: bool
    created_by: str | None
    created_at: str
    started_at: str | None
    ended_at: str | None
    error: str | None
    params: dict[str, Any]
    result: dict[str, Any] | None


class JobEnvelope(msgspec.Struct):
    """One job."""

    data: JobModel
    message: str
    sent_at: str


class JobListEnvelope(msgspec.Struct):
    """A page of jobs."""

    data: list[JobModel]
    message: str
    page: PageInfo
    sent_at: str
