"""The operator API (SPEC section 7, after seed 002): background jobs and their cancellation.

Who reaches which job: an admin reaches the jobs of their tenant and reads the deployment-wide ones (retention,
rollup refresh); cancelling a deployment-wide job, or reaching another tenant's, needs the global admin role
(another tenant's job answers 404 otherwise, as sessions do).
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, delete, get
from litestar.params import FromPath, QueryParameter

from app.auth import Principal
from app.errors import ApiError, ErrorCode, forbidden, not_found, validation_error
from app.openapi_docs import answer, errors, page_size_parameter
from app.routes.operator_schemas import JobEnvelope, JobListEnvelope
from app.routes.sessions import page_json, parse_uuid, positive_int
from app.services import PrincipalDep, ServicesDep
from app.web import envelope, rfc3339
from store.jobs import Job, JobScope, JobStatus

_MAX_LIMIT = 200
_MAX_KIND = 64

Limit = Annotated[
    str | None,
    page_size_parameter("limit", "jobs per page, 1 to 200 (default 50)", _MAX_LIMIT),
]
Page = Annotated[
    str | None,
    QueryParameter(name="page", description="1-based page number (default 1)", schema_extra={"type": "integer"}),
]
Kind = Annotated[
    str | None,
    QueryParameter(
        name="kind",
        description="only jobs of this kind, such as retention",
        schema_extra={"minLength": 1, "maxLength": _MAX_KIND},
    ),
]
Status = Annotated[
    str | None,
    QueryParameter(
        name="status",
        description="only jobs in this status",
        schema_extra={"enum": [status.value for status in JobStatus]},
    ),
]
TenantFilter = Annotated[
    str | None,
    QueryParameter(name="tenant_id", description="only this tenant's jobs (global admins; others give their own)"),
]


def job_json(job: Job) -> dict[str, Any]:
    """A job as the operator API shows it."""
    return {
        "id": str(job.id),
        "kind": job.kind,
        "tenant_id": None if job.tenant_id is None else str(job.tenant_id),
        "status": job.status.value,
        "progress": {"done": job.done, "total": job.total, "fraction": job.progress},
        "cancel_requested": job.cancel_requested,
        "created_by": job.created_by,
        "created_at": rfc3339(job.created_at),
        "started_at": None if job.started_at is None else rfc3339(job.started_at),
        "ended_at": None if job.finished_at is None else rfc3339(job.finished_at),
        "error": job.error,
        "params": job.params,
        "result": job.result,
    }


def _scope(admin: Principal) -> JobScope:
    """The jobs an admin reaches (see the module's docstring)."""
    if admin.is_global_admin:
        return JobScope()
    return JobScope(admin.tenant_id, deployment=True)


def _tenant_filter(admin: Principal, raw: str | None) -> JobScope:
    if raw is None:
        return _scope(admin)
    tenant_id = parse_uuid(raw, "tenant_id")
    if tenant_id != admin.tenant_id and not admin.is_global_admin:
        raise forbidden("another tenant's jobs need the global admin role")
    return JobScope(tenant_id)


async def _job(services: ServicesDep, admin: Principal, raw_id: str) -> Job:
    job_id = parse_uuid(raw_id, "job_id")
    scope = _scope(admin)
    job = await services.jobs.get(job_id, tenant_id=scope.tenant_id, deployment=scope.deployment)
    if job is None:
        raise not_found(f"job {job_id} not found")
    return job


@get(
    "/admin/jobs",
    tags=["operators"],
    summary="List background jobs (admin)",
    responses={200: answer(JobListEnvelope, "a page of jobs, newest first"), **errors(400, 401, 403, 503)},
)
async def list_jobs(
    admin: PrincipalDep,
    services: ServicesDep,
    limit: Limit = None,
    page: Page = None,
    kind: Kind = None,
    status: Status = None,
    tenant_id: TenantFilter = None,
) -> Response[dict[str, Any]]:
    """Jobs newest first (retention, rollup refresh, user erasure, ...), with their progress; paged."""
    size = positive_int(limit, "limit", 50, _MAX_LIMIT)
    number = positive_int(page, "page", 1, 10**6)
    if kind is not None and not 0 < len(kind) <= _MAX_KIND:
        raise validation_error(f"kind must be 1 to {_MAX_KIND} characters", {"field": "kind"})
    if status is not None and status not in JobStatus.__members__.values():
        raise validation_error(
            "status must be one of " + ", ".join(JobStatus), {"field": "status", "allowed": list(JobStatus)}
        )
    scope = _tenant_filter(admin, tenant_id)
    result = await services.jobs.list_jobs(
        page=number,
        size=size,
        tenant_id=scope.tenant_id,
        kind=kind,
        status=None if status is None else JobStatus(status),
        deployment=scope.deployment,
    )
    return envelope(
        [job_json(job) for job in result.items],
        "Retrieved jobs successfully",
        page=page_json(number, size, result.total, len(result.items)),
    )


@get(
    "/admin/jobs/{job_id:str}",
    tags=["operators"],
    summary="Get a background job (admin)",
    responses={200: answer(JobEnvelope, "the job"), **errors(400, 401, 403, 404, 503)},
)
async def get_job(job_id: FromPath[str], admin: PrincipalDep, services: ServicesDep) -> Response[dict[str, Any]]:
    """One job with its status, progress, result and error."""
    return envelope(job_json(await _job(services, admin, job_id)), "Retrieved job successfully")


@delete(
    "/admin/jobs/{job_id:str}",
    tags=["operators"],
    summary="Cancel a background job (admin)",
    status_code=200,
    responses={
        200: answer(JobEnvelope, "a scheduled job, cancelled at once"),
        202: answer(JobEnvelope, "a running job, asked to stop at its next step (it then ends cancelled)"),
        **errors(400, 401, 403, 404, 409, 503),
    },
)
async def cancel_job(job_id: FromPath[str], admin: PrincipalDep, services: ServicesDep) -> Response[dict[str, Any]]:
    """Cancel a job: a scheduled one at once (200), a running one at its next safe step (202); finished: 409."""
    job = await _job(services, admin, job_id)
    if job.tenant_id is None and not admin.is_global_admin:
        raise forbidden("cancelling a deployment-wide job needs the global admin role")
    outcome = await services.jobs.cancel(job.id, JobScope(job.tenant_id) if job.tenant_id else JobScope())
    if outcome is None:
        raise not_found(f"job {job.id} not found")
    after, before = outcome
    if before not in (JobStatus.SCHEDULED, JobStatus.RUNNING):
        raise conflict_finished(after)
    if after.status == JobStatus.CANCELLED:
        return envelope(job_json(after), "Cancelled job successfully")
    return envelope(job_json(after), "Asked the job to stop at its next step", status_code=202)


def conflict_finished(job: Job) -> ApiError:
    """409: the job has ended already."""
    return ApiError(
        409,
        ErrorCode.CONFLICT,
        f"job {job.id} has ended already ({job.status.value})",
        details={"status": job.status.value},
    )


ROUTES = [list_jobs, get_job, cancel_job]
"""The operator routes."""
