"""Exports of a replay window: ``POST /replay/exports``, its status, cancel, and a resumable download.

An export belongs to the caller's tenant: another tenant's export is a 404, as is a job of another kind. The
download streams the stored file piece by piece and honours one ``Range`` (``bytes=a-b``, ``a-`` or ``-n``):
206 with ``Content-Range``, 416 when it lies past the end; ``If-Range`` with another ETag sends it whole.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import msgspec
from litestar import get, post
from litestar.params import FromPath, HeaderParameter, JSONBody
from litestar.response import Response, Stream

from app.auth import Principal
from app.domain.exports import EXPORT, ExportFormat, ExportSpec
from app.domain.replay import check_in_range, check_window, parse_filters, parse_instant, playback_range
from app.errors import ApiError, ErrorCode, not_found, validation_error
from app.openapi_docs import Body, Instant, StreamedAnswer, TableFilter, answer, errors
from app.routes.sessions import parse_uuid
from app.services import PrincipalDep, Services, ServicesDep
from app.web import envelope, rfc3339, utc_now
from store.jobs import Job, JobStatus

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class ExportRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``POST /replay/exports``."""

    start: str | None = None
    """Required, RFC3339: the export holds the events with ``start < event_timestamp <= end``."""
    end: str | None = None
    """Required, RFC3339."""
    format: str = "ndjson"
    """``ndjson`` or ``mcap``."""
    tables: str | list[str] | None = None
    filter_tables: str | list[str] | None = None
    filter_min_timestamp: str | None = None


class ExportBody(msgspec.Struct, forbid_unknown_fields=True):
    """What ``POST /replay/exports`` accepts (:class:`ExportRequest` reads it, so that a 400 names the field)."""

    start: Instant
    end: Instant
    format: Literal["ndjson", "mcap"] = "ndjson"
    tables: TableFilter = None
    filter_tables: TableFilter = None
    filter_min_timestamp: Instant | None = None


class ExportModel(msgspec.Struct):
    """An export job: what it exports, how far it is (``done`` of ``total`` events), and its file once completed."""

    id: uuid.UUID
    status: JobStatus
    format: Literal["ndjson", "mcap"]
    start: Instant
    end: Instant
    tables: list[str] | None
    filter_tables: list[str] | None
    filter_min_timestamp: Instant | None
    progress: Annotated[float, msgspec.Meta(ge=0, le=1)]
    done: Annotated[int, msgspec.Meta(ge=0)]
    total: Annotated[int, msgspec.Meta(ge=0)]
    bytes: Annotated[int, msgspec.Meta(ge=0)] | None
    """The file's size, once written."""
    error: str | None
    created_at: Instant
    started_at: Instant | None
    finished_at: Instant | None
    download: str | None
    """The path of the file (``/replay/exports/{id}/download``) once completed, else null."""


class ExportEnvelope(msgspec.Struct):
    """One export."""

    data: ExportModel
    message: str
    sent_at: Instant


_FILE_HEADERS = {
    "Accept-Ranges": "bytes",
    "ETag": "the export's id, for If-Range",
    "Content-Disposition": "attachment; filename=export-{id}.ndjson or .mcap",
    "Content-Range": "206 only: the bytes sent, of the whole file",
}
_FILE_ANSWER = StreamedAnswer(
    "the file (200 whole, 206 the requested range): NDJSON, or MCAP as application/octet-stream",
    {"application/x-ndjson": Body(), "application/octet-stream": Body()},
    _FILE_HEADERS,
)


def _comma(value: str | list[str] | None) -> str | None:
    return ",".join(value) if isinstance(value, list) else value


def export_json(job: Job) -> dict[str, Any]:
    """An export job as the API shows it."""
    params, result = job.params, job.result or {}
    total = int(params.get("total", 0))
    done = result.get("events", round(job.progress * total))
    return {
        "id": str(job.id),
        "status": job.status.value,
        "format": params.get("format"),
        "start": params.get("start"),
        "end": params.get("end"),
        "tables": params.get("tables"),
        "filter_tables": params.get("filter_tables"),
        "filter_min_timestamp": params.get("filter_min_timestamp"),
        "progress": job.progress,
        "done": done,
        "total": max(total, done),
        "bytes": result.get("bytes"),
        "error": job.error,
        "created_at": rfc3339(job.created_at),
        "started_at": None if job.started_at is None else rfc3339(job.started_at),
        "finished_at": None if job.finished_at is None else rfc3339(job.finished_at),
        "download": f"/replay/exports/{job.id}/download" if job.status is JobStatus.COMPLETED else None,
    }


async def _export_of(services: Services, principal: Principal, export_id: str) -> Job:
    job_id = parse_uuid(export_id, "export_id")
    job = await services.jobs.get(job_id, tenant_id=principal.tenant_id)
    if job is None or job.kind != EXPORT:
        raise not_found(f"no export {job_id}")
    return job


def _required(value: str | None, field: str) -> str:
    # Checked here rather than by the body's type, so that the error names the field like the others.
    if value is None:
        raise validation_error(f"{field} is required", {"field": field})
    return value


def _spec(data: ExportRequest, services: Services, earliest: Any) -> ExportSpec:
    if data.format not in tuple(ExportFormat):
        raise validation_error("format must be ndjson or mcap", {"field": "format"})
    filters = parse_filters(_comma(data.tables), _comma(data.filter_tables), data.filter_min_timestamp)
    window = playback_range(services.runtime.current, utc_now(), earliest)
    start = check_in_range(parse_instant(_required(data.start, "start"), "start"), window, "start")
    end = check_in_range(parse_instant(_required(data.end, "end"), "end"), window, "end")
    check_window(start, end, window)
    return ExportSpec(start, end, filters, ExportFormat(data.format))


@post(
    "/replay/exports",
    tags=["exports"],
    summary="Export a replay window (NDJSON or MCAP)",
    status_code=202,
    responses={202: answer(ExportEnvelope, "the scheduled export (its status at the Location header's path)")},
    opt={"request_body": ExportBody},
)
async def create_export(
    principal: PrincipalDep, services: ServicesDep, data: JSONBody[ExportRequest]
) -> Response[dict[str, Any]]:
    """Start a job that writes the tenant's events of ``(start, end]`` as NDJSON or MCAP.

    The filters are those of ``GET /replay/events``. Answers the job (202) with the ``Location`` of its status;
    see docs/exports.md.
    """
    spec = _spec(data, services, await services.events.earliest_instant(principal.tenant_id))
    total = await services.export_files.count_events(principal.tenant_id, spec.start, spec.end, spec.filters)
    job = await services.jobs.create(
        EXPORT,
        tenant_id=principal.tenant_id,
        params={**spec.as_params(), "total": total},
        created_by=principal.user_id,
    )
    services.export_runner.wake()
    return envelope(
        export_json(job), "Export scheduled", status_code=202, headers={"Location": f"/replay/exports/{job.id}"}
    )


@get(
    "/replay/exports/{export_id:str}",
    tags=["exports"],
    summary="An export's status",
    responses={200: answer(ExportEnvelope, "the export")},
)
async def get_export(
    principal: PrincipalDep, services: ServicesDep, export_id: FromPath[str]
) -> Response[dict[str, Any]]:
    """The export job: status, progress (``done`` of ``total`` events), and its download path once completed."""
    return envelope(export_json(await _export_of(services, principal, export_id)), "Get export successfully")


@post(
    "/replay/exports/{export_id:str}/cancel",
    tags=["exports"],
    summary="Cancel an export",
    status_code=200,
    responses={200: answer(ExportEnvelope, "the export, cancelled or asked to stop (a finished one unchanged)")},
)
async def cancel_export(
    principal: PrincipalDep, services: ServicesDep, export_id: FromPath[str]
) -> Response[dict[str, Any]]:
    """Cancel the export: at once when it has not started, at its next chunk of events when it runs.

    A finished export is unchanged. Answers the job.
    """
    job = await _export_of(services, principal, export_id)
    cancelled = await services.jobs.request_cancel(job.id, tenant_id=principal.tenant_id)
    if cancelled is None:
        raise not_found(f"no export {job.id}")
    return envelope(export_json(cancelled), "Cancel requested")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a ``Range`` header asks for; None for the whole file; 416 when unsatisfiable."""
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None  # not one byte range we understand (or several): the whole file, as RFC 9110 allows
    first_text, last_text = match.groups()
    if first_text == "":
        first, last = max(0, size - int(last_text)), size - 1
        satisfiable = int(last_text) > 0
    else:
        first = int(first_text)
        last = size - 1 if last_text == "" else min(int(last_text), size - 1)
        satisfiable = first < size and (last_text == "" or first <= int(last_text))
    if not satisfiable or size == 0:
        raise ApiError(
            416,
            ErrorCode.RANGE_NOT_SATISFIABLE,
            f"the range lies outside the file of {size} bytes",
            details={"field": "Range", "size": size},
            headers={"Content-Range": f"bytes */{size}"},
        )
    return first, last


@get(
    "/replay/exports/{export_id:str}/download",
    tags=["exports"],
    summary="Download an export's file (resumable with Range)",
    response_description="the file: 200 whole, or 206 with the requested range",
    responses=errors(409, 416),
    opt={"answers": {200: _FILE_ANSWER, 206: _FILE_ANSWER}},
)
async def download_export(
    principal: PrincipalDep,
    services: ServicesDep,
    export_id: FromPath[str],
    range_header: Annotated[str | None, HeaderParameter(name="Range")] = None,
    if_range: Annotated[str | None, HeaderParameter(name="If-Range")] = None,
) -> Stream:
    """The completed export's file, streamed; 409 while it is not completed."""
    job = await _export_of(services, principal, export_id)
    if job.status is not JobStatus.COMPLETED or job.result is None:
        raise ApiError(409, ErrorCode.CONFLICT, f"export {job.id} is {job.status.value}, not completed")
    size = int(job.result["bytes"])
    export_format = ExportFormat(job.params["format"])
    etag = f'"{job.id}"'
    wanted = _byte_range(range_header, size) if if_range in (None, etag) else None
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Content-Disposition": f'attachment; filename="export-{job.id}.{export_format.value}"',
    }
    first, last = wanted if wanted is not None else (0, size - 1)
    headers["Content-Length"] = str(last - first + 1)
    if wanted is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"

    async def body() -> AsyncIterator[bytes]:
        if size:
            async for piece in services.export_files.read(job.id, first, last):
                yield piece

    return Stream(
        body(), media_type=export_format.media_type, headers=headers, status_code=206 if wanted is not None else 200
    )


ROUTES = [create_export, get_export, cancel_export, download_export]
