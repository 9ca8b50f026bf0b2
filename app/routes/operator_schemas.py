"""The shapes of the operator API's answers, for the OpenAPI document (the routes build plain dicts of them)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec

from app.domain.sessions import Access
from app.openapi_docs import Instant, PageInfo, SortedPageInfo
from app.routes.sessions import SessionModel
from playback.messages import PlayState
from store.jobs import JobStatus
from store.sessions import SessionKind


class JobProgress(msgspec.Struct):
    """Steps done of total (null for jobs that only report a fraction), and the fraction 0..1."""

    done: int | None
    total: int | None
    fraction: Annotated[float, msgspec.Meta(ge=0, le=1)]


class JobModel(msgspec.Struct):
    """A background job."""

    id: uuid.UUID
    kind: str
    tenant_id: uuid.UUID | None
    status: JobStatus
    progress: JobProgress
    cancel_requested: bool
    created_by: str | None
    created_at: Instant
    started_at: Instant | None
    ended_at: Instant | None
    error: str | None
    params: dict[str, Any]
    result: dict[str, Any] | None


class JobEnvelope(msgspec.Struct):
    """One job."""

    data: JobModel
    message: str
    sent_at: Instant


class JobListEnvelope(msgspec.Struct):
    """A page of jobs."""

    data: list[JobModel]
    message: str
    page: PageInfo
    sent_at: Instant


class UserSession(SessionModel):
    """A session of a user: seed 000's fields plus its kind, why it ended, and its playback clock."""

    kind: SessionKind
    ended_reason: str | None
    playback_state: PlayState
    playback_speed: float
    playback_position: Instant | None


class UserSessionListEnvelope(msgspec.Struct):
    """A page of a user's sessions."""

    data: list[UserSession]
    message: str
    page: SortedPageInfo
    sent_at: Instant


class ActivityEntryModel(msgspec.Struct):
    """One entry of a session's activity log: its type, who (``actor``), when, on which replica, and details.

    Details: ``seeked`` has ``from`` and ``position``; ``started`` and ``speed_changed`` have ``speed``;
    ``terminated`` has its ``reason``; ``viewer_attached`` has ``access``.
    """

    id: int
    type: str
    session_id: uuid.UUID
    actor: str | None
    at: Instant
    replica: str | None
    details: dict[str, Any]


class ActivityListEnvelope(msgspec.Struct):
    """A page of a session's activity log, oldest first."""

    data: list[ActivityEntryModel]
    message: str
    page: PageInfo
    sent_at: Instant


class LiveViewer(msgspec.Struct):
    """A viewer attached now: who, how (control or view), on which replica, since when, and how it keeps up."""

    user_id: str
    access: Access
    replica: str
    since: Instant
    frames_behind: int
    conflated: int
    resynced: int


class LiveRange(msgspec.Struct):
    """The instants a session plays between."""

    start: Instant
    end: Instant


class LiveSessionModel(msgspec.Struct):
    """A session with its clock running or a viewer attached, on any replica."""

    session_id: uuid.UUID
    tenant_id: uuid.UUID
    kind: SessionKind
    owner_replica: str | None
    state: PlayState
    speed: float
    position: Instant
    range: LiveRange
    viewers: list[LiveViewer]


class LiveSessionListEnvelope(msgspec.Struct):
    """The live sessions."""

    data: list[LiveSessionModel]
    message: str
    sent_at: Instant
