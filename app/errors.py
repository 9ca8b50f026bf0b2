"""The one place where errors become HTTP answers.

Every error answer has the envelope of SPEC section 7:
``{"error": {"code", "message", "correlation_id", "is_retryable", "action"?, "details"?}, "sent_at"}``.
Domain code raises :class:`ApiError`; Litestar's own exceptions and anything unexpected are mapped here,
so no stack trace ever reaches a client.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from redis.exceptions import RedisError

from app.web import correlation_id_of, utc_now_rfc3339
from store.errors import ConflictError, StoreUnavailableError

_log = logging.getLogger("msr.errors")


class ErrorCode(StrEnum):
    """Stable error codes of the API (seed 000 plus a few)."""

    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    TIMESTAMP_OUT_OF_RANGE = "TIMESTAMP_OUT_OF_RANGE"
    INVALID_PLAYBACK_WINDOW = "INVALID_PLAYBACK_WINDOW"
    SESSION_LIMIT_REACHED = "SESSION_LIMIT_REACHED"
    SESSION_INACTIVE = "SESSION_INACTIVE"
    CONFLICT = "CONFLICT"
    REPLAY_IN_PROGRESS = "REPLAY_IN_PROGRESS"
    SESSION_CREATION_FAILED = "SESSION_CREATION_FAILED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class ApiError(Exception):
    """An error with its HTTP status and its place in the error envelope."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        *,
        retryable: bool = False,
        action: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retryable = retryable
        self.action = action
        self.details = details
        self.headers = headers or {}


def unauthorized(message: str) -> ApiError:
    """401: the caller could not be authenticated."""
    return ApiError(
        401, ErrorCode.UNAUTHORIZED, message, action="reauthenticate", headers={"WWW-Authenticate": "Bearer"}
    )


def forbidden(message: str) -> ApiError:
    """403: the caller is known but may not do this."""
    return ApiError(403, ErrorCode.FORBIDDEN, message)


def not_found(message: str) -> ApiError:
    """404: nothing the caller may see has this identity."""
    return ApiError(404, ErrorCode.NOT_FOUND, message)


def validation_error(message: str, details: dict[str, Any] | None = None) -> ApiError:
    """400: the request is malformed; ``details`` names the field."""
    return ApiError(400, ErrorCode.VALIDATION_ERROR, message, details=details)


def service_unavailable(message: str, details: dict[str, Any] | None = None) -> ApiError:
    """503: a dependency is down; the caller may retry."""
    return ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, message, retryable=True, details=details)


def error_body(error: ApiError, correlation_id: str) -> dict[str, Any]:
    """The error envelope (also used for WebSocket-adjacent answers)."""
    payload: dict[str, Any] = {
        "code": error.code.value,
        "message": error.message,
        "correlation_id": correlation_id,
        "is_retryable": error.retryable,
    }
    if error.action is not None:
        payload["action"] = error.action
    if error.details is not None:
        payload["details"] = error.details
    return {"error": payload, "sent_at": utc_now_rfc3339()}


def _respond(request: Request[Any, Any, Any], error: ApiError) -> Response[dict[str, Any]]:
    correlation_id = correlation_id_of(request.scope)
    return Response(
        content=error_body(error, correlation_id),
        status_code=error.status,
        headers=error.headers,
        media_type="application/json",
    )


def _handle_api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[dict[str, Any]]:
    return _respond(request, exc)


def _validation_details(exc: ValidationException) -> dict[str, Any] | None:
    extra = exc.extra
    if isinstance(extra, list) and extra:
        return {"errors": [_safe_error_item(item) for item in extra]}
    if isinstance(extra, dict) and extra:
        return _safe_error_item(extra)
    return None


def _safe_error_item(item: Any) -> dict[str, Any]:
    # Keep only the fields that name the problem; never echo arbitrary objects back.
    if not isinstance(item, dict):
        return {"message": str(item)[:200]}
    return {key: str(item[key])[:200] for key in ("key", "source", "message") if key in item}


def _handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    error: ApiError
    if isinstance(exc, NotFoundException):
        error = not_found("no such resource")
    elif isinstance(exc, MethodNotAllowedException):
        # Keep the router's Allow header: it tells the client which methods would work.
        allow = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
        error = ApiError(405, ErrorCode.METHOD_NOT_ALLOWED, "method not allowed on this resource", headers=allow)
    elif isinstance(exc, RequestEntityTooLarge):
        error = ApiError(413, ErrorCode.PAYLOAD_TOO_LARGE, "request body is too large")
    elif isinstance(exc, ValidationException):
        error = validation_error(_first_line(exc.detail) or "invalid request", _validation_details(exc))
    elif isinstance(exc, NotAuthorizedException):
        error = unauthorized("authentication required")
    elif isinstance(exc, PermissionDeniedException):
        error = forbidden("not allowed")
    elif exc.status_code == 503:
        error = service_unavailable("service unavailable")
    elif 400 <= exc.status_code < 500:
        error = validation_error(_first_line(exc.detail) or "invalid request")
        error.status = exc.status_code
    else:
        return _handle_unexpected(request, exc)
    return _respond(request, error)


def _handle_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    _log.warning("dependency unavailable on %s %s: %s", request.method, request.url.path, exc)
    return _respond(request, service_unavailable("a dependency is unavailable; retry in a moment"))


def _handle_conflict(request: Request[Any, Any, Any], exc: ConflictError) -> Response[dict[str, Any]]:
    return _respond(request, ApiError(409, ErrorCode.CONFLICT, str(exc), action="reload_and_retry"))


def _handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    _log.error(
        "unhandled error on %s %s",
        request.method,
        request.url.path,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return _respond(request, ApiError(500, ErrorCode.INTERNAL_SERVER_ERROR, "internal error; quote the correlation id"))


def _first_line(text: str) -> str:
    return text.splitlines()[0][:300] if text else ""


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    ApiError: _handle_api_error,
    HTTPException: _handle_http_exception,
    StoreUnavailableError: _handle_unavailable,
    RedisError: _handle_unavailable,
    ConflictError: _handle_conflict,
    Exception: _handle_unexpected,
}
"""Exception handlers to register on the app."""
