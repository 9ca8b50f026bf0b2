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


class UserSession(msgspec.Struct):
    """A session of a user: seed 000's fields plus its kind, why it ended, and its playback clock."""

    id: str
    user_id: str
    tenant_id: str
    status: str
    last_seen_at: str
    created_at: str
    update_at: str
    updated_at: str
    created_by: str
    updated_by: str
    occ_lock: int
    kind: str
    ended_reason: str | None
    playback_state: str
    playback_speed: float
    playback_position: str | None


class UserSessionListEnvelope(msgspec.Struct):
    """A page of a user's sessions."""

    data: list[UserSession]
    message: str
    page: PageInfo
    sent_at: str


class ActivityEntryModel(msgspec.Struct):
    """One entry of a session's activity log: its type, who (``actor``), when, on which replica, and details.

    Details: ``seeked`` has ``from`` and ``position``; ``started`` and ``speed_changed`` have ``speed``;
    ``terminated`` has its ``reason``; ``viewer_attached`` has ``access``.
    """

    id: int
    type: str
    session_id: str
    actor: str | None
    at: str
    replica: str | None
    details: dict[str, Any]


class ActivityListEnvelope(msgspec.Struct):
    """A page of a session's activity log, oldest first."""

    data: list[ActivityEntryModel]
    message: str
    page: PageInfo
    sent_at: str


class LiveViewer(msgspec.Struct):
    """A viewer attached now: who, how (control or view), on which replica, since when, and how it keeps up."""

    user_id: str
    access: str
    replica: str
    since: str
    frames_behind: int
    conflated: int
    resynced: int


class LiveRange(msgspec.Struct):
    """The instants a session plays between."""

    start: str
    end: str


class LiveSessionModel(msgspec.Struct):
    """A session with its clock running or a viewer attached, on any replica."""

    session_id: str
    tenant_id: str
    kind: str
    owner_replica: str | None
    state: str
    speed: float
    position: str
    range: LiveRange
    viewers: list[LiveViewer]


class LiveSessionListEnvelope(msgspec.Struct):
    """The live sessions."""

    data: list[LiveSessionModel]
    message: str
    sent_at: str
