"""The one error map: every error a client can cause, and how it is answered on every channel.

Services and the live wing raise *domain errors* (:class:`DomainError` and its kinds below); the playback engine
raises its own (:mod:`playback.errors`); the store raises :class:`~store.errors.StoreUnavailableError` and
:class:`~store.errors.ConflictError`. :data:`ERROR_MAP` is the only place that says what each becomes: its HTTP status
and envelope code (SPEC section 7), its WebSocket ``error`` code (SPEC section 8), and the close code of a connection
that it ends (None when the connection goes on). A refusal that crosses replicas travels as :func:`refusal_code` and
is raised again as its own class by :func:`refusal` on the asking replica.

Every error answer has the envelope of SPEC section 7:
``{"error": {"code", "message", "correlation_id", "is_retryable", "action"?, "details"?}, "sent_at"}``.
Litestar's own exceptions and anything unexpected are mapped here too, so no stack trace ever reaches a client.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    InternalServerException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from redis.exceptions import RedisError

from app.web import correlation_id_of, utc_now_rfc3339
from playback import errors as engine
from playback import messages as wire
from store.errors import ConflictError, StoreFullError, StoreUnavailableError

_log = logging.getLogger("msr.errors")


class ErrorCode(StrEnum):
    """Stable error codes of the API (seed 000 plus a few)."""

    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    REQUEST_HEADERS_TOO_LARGE = "REQUEST_HEADERS_TOO_LARGE"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    RANGE_NOT_SATISFIABLE = "RANGE_NOT_SATISFIABLE"
    TIMESTAMP_OUT_OF_RANGE = "TIMESTAMP_OUT_OF_RANGE"
    INVALID_PLAYBACK_WINDOW = "INVALID_PLAYBACK_WINDOW"
    SESSION_LIMIT_REACHED = "SESSION_LIMIT_REACHED"
    SESSION_INACTIVE = "SESSION_INACTIVE"
    CONFLICT = "CONFLICT"
    NOT_ALLOWED = "NOT_ALLOWED"
    REPLAY_IN_PROGRESS = "REPLAY_IN_PROGRESS"
    SESSION_CREATION_FAILED = "SESSION_CREATION_FAILED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


# Domain errors: what services raise. Each names a situation, not a status.


class DomainError(Exception):
    """An error of the domain that a client caused (or may retry); how it is answered is in :data:`ERROR_MAP`."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, action: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.action = action


class UnauthorizedError(DomainError):
    """The caller could not be authenticated."""


class ForbiddenError(DomainError):
    """The caller is known but may not do this."""


class ResourceNotFoundError(DomainError):
    """Nothing the caller may see has this identity."""


class InvalidInputError(DomainError):
    """The request is malformed; ``details`` names the field."""


class TimestampOutOfRangeError(InvalidInputError):
    """An instant outside the tenant's playback range."""


class InvalidPlaybackWindowError(InvalidInputError):
    """A window longer than the playback limit."""


class SessionInactiveError(DomainError):
    """The session was terminated, ended or went idle (or cannot be played)."""


class SessionLimitError(DomainError):
    """``max_active_sessions`` is reached."""


class StaleVersionError(DomainError):
    """The resource changed since the caller read it (a stale ``occ_lock``)."""


class NotAllowedError(DomainError):
    """A request the current state does not allow (a ``resume`` after the first message)."""


class ReplayInProgressError(DomainError):
    """The tenant already has a live replay."""


class UnavailableError(DomainError):
    """A dependency (database, Redis, another replica) is unavailable; retry in a moment."""


class SessionCreationError(UnavailableError):
    """A session could not be created because a dependency is unavailable."""


class NotOwnerError(UnavailableError):
    """The replica asked to apply a command does not own the session's clock (any more): it is changing servers."""


class ShuttingDownError(UnavailableError):
    """This replica is shutting down."""


class ApiError(DomainError):
    """An answer of the HTTP layer itself (a route's own refusal) with its explicit status and code."""

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
        super().__init__(message, details=details, action=action)
        self.status = status
        self.code = code
        self.retryable = retryable
        self.headers = headers or {}


# The map.

CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_NOT_FOUND: Final = 4404
CLOSE_SESSION_INACTIVE: Final = 4409
"""Close code: the session was terminated or ended; do not reconnect."""
CLOSE_TRY_AGAIN: Final = 1013
CLOSE_INTERNAL: Final = 1011


@dataclass(frozen=True, slots=True)
class Answer:
    """How one kind of error is answered: over HTTP, as a WebSocket ``error``, and the close code it ends with."""

    status: int
    code: ErrorCode
    ws_code: str
    close: int | None = None
    retryable: bool = False
    action: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


_UNAVAILABLE: Final = Answer(503, ErrorCode.SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", CLOSE_TRY_AGAIN, True)
INTERNAL: Final = Answer(500, ErrorCode.INTERNAL_SERVER_ERROR, wire.INTERNAL_ERROR, CLOSE_INTERNAL)
"""The answer to anything unexpected (logged with its stack, answered without one)."""

ERROR_MAP: Final[dict[type[Exception], Answer]] = {
    UnauthorizedError: Answer(
        401,
        ErrorCode.UNAUTHORIZED,
        wire.UNAUTHORIZED,
        CLOSE_UNAUTHORIZED,
        action="reauthenticate",
        headers={"WWW-Authenticate": "Bearer"},
    ),
    ForbiddenError: Answer(403, ErrorCode.FORBIDDEN, wire.FORBIDDEN, CLOSE_FORBIDDEN),
    ResourceNotFoundError: Answer(404, ErrorCode.NOT_FOUND, "NOT_FOUND", CLOSE_NOT_FOUND),
    InvalidInputError: Answer(400, ErrorCode.VALIDATION_ERROR, wire.BAD_MESSAGE),
    TimestampOutOfRangeError: Answer(400, ErrorCode.TIMESTAMP_OUT_OF_RANGE, wire.INVALID_TIMESTAMP),
    InvalidPlaybackWindowError: Answer(400, ErrorCode.INVALID_PLAYBACK_WINDOW, wire.BAD_MESSAGE),
    SessionInactiveError: Answer(409, ErrorCode.SESSION_INACTIVE, wire.SESSION_INACTIVE, CLOSE_SESSION_INACTIVE),
    SessionLimitError: Answer(
        429,
        ErrorCode.SESSION_LIMIT_REACHED,
        "SESSION_LIMIT_REACHED",
        action="terminate_existing_session",
        headers={"Retry-After": "5"},
    ),
    StaleVersionError: Answer(409, ErrorCode.CONFLICT, wire.NOT_ALLOWED, action="reload_and_retry"),
    ConflictError: Answer(409, ErrorCode.CONFLICT, wire.NOT_ALLOWED, action="reload_and_retry"),
    NotAllowedError: Answer(409, ErrorCode.NOT_ALLOWED, wire.NOT_ALLOWED),
    ReplayInProgressError: Answer(409, ErrorCode.REPLAY_IN_PROGRESS, wire.NOT_ALLOWED, action="end_current_replay"),
    UnavailableError: _UNAVAILABLE,
    StoreUnavailableError: _UNAVAILABLE,
    RedisError: _UNAVAILABLE,
    SessionCreationError: Answer(
        503,
        ErrorCode.SESSION_CREATION_FAILED,
        "SERVICE_UNAVAILABLE",
        CLOSE_TRY_AGAIN,
        retryable=True,
        action="retry",
        headers={"Retry-After": "1"},
    ),
    NotOwnerError: Answer(503, ErrorCode.SERVICE_UNAVAILABLE, "NOT_OWNER", CLOSE_TRY_AGAIN, retryable=True),
    engine.InvalidSpeedError: Answer(400, ErrorCode.VALIDATION_ERROR, wire.INVALID_SPEED),
    engine.PositionOutOfRangeError: Answer(400, ErrorCode.TIMESTAMP_OUT_OF_RANGE, wire.INVALID_TIMESTAMP),
    engine.IllegalTransitionError: Answer(409, ErrorCode.NOT_ALLOWED, wire.NOT_ALLOWED),
}
"""Every error a client can cause (or retry), by class; a subclass not listed is answered as its nearest base."""


def answer_of(error: BaseException) -> Answer:
    """How ``error`` is answered (:data:`INTERNAL` when it is nobody's fault but the server's)."""
    if isinstance(error, ApiError):
        return Answer(error.status, error.code, error.code.value, None, error.retryable, error.action, error.headers)
    for kind in type(error).__mro__:
        answer = ERROR_MAP.get(kind)
        if answer is not None:
            return answer
    return INTERNAL


def _refusals() -> dict[str, type[Exception]]:
    kinds: dict[str, type[Exception]] = {}
    pending: list[type[Exception]] = [
        kind for kind in ERROR_MAP if issubclass(kind, DomainError | engine.PlaybackError)
    ]
    while pending:
        kind = pending.pop()
        kinds[kind.__name__] = kind
        pending.extend(kind.__subclasses__())
    kinds.pop(ApiError.__name__, None)
    return kinds


_REFUSALS: Final = _refusals()


def refusal_code(error: Exception) -> str:
    """The code a refusal crosses replicas as (the name of its class)."""
    name = type(error).__name__
    return name if name in _REFUSALS else NotOwnerError.__name__


def refusal(code: str, message: str) -> Exception:
    """The refusal another replica answered, as its own class again (NotOwnerError for a code this replica lacks)."""
    return _REFUSALS.get(code, NotOwnerError)(message)


def unauthorized(message: str) -> UnauthorizedError:
    """401: the caller could not be authenticated."""
    return UnauthorizedError(message)


def forbidden(message: str) -> ForbiddenError:
    """403: the caller is known but may not do this."""
    return ForbiddenError(message)


def not_found(message: str) -> ResourceNotFoundError:
    """404: nothing the caller may see has this identity."""
    return ResourceNotFoundError(message)


def validation_error(message: str, details: dict[str, Any] | None = None) -> InvalidInputError:
    """400: the request is malformed; ``details`` names the field."""
    return InvalidInputError(message, details=details)


def service_unavailable(message: str, details: dict[str, Any] | None = None) -> UnavailableError:
    """503: a dependency is down; the caller may retry."""
    return UnavailableError(message, details=details)


def error_body(error: Exception, answer: Answer, correlation_id: str) -> dict[str, Any]:
    """The error envelope of an error, answered as ``answer``."""
    if isinstance(error, DomainError):
        message = error.message
    elif isinstance(error, ConflictError | StoreFullError):
        message = str(error)
    else:
        message = "a dependency is unavailable; retry in a moment"
    if answer is INTERNAL:
        message = "internal error; quote the correlation id"
    payload: dict[str, Any] = {
        "code": answer.code.value,
        "message": message,
        "correlation_id": correlation_id,
        "is_retryable": answer.retryable,
    }
    action = (error.action if isinstance(error, DomainError) else None) or answer.action
    if action is not None:
        payload["action"] = action
    if isinstance(error, DomainError) and error.details is not None:
        payload["details"] = error.details
    return {"error": payload, "sent_at": utc_now_rfc3339()}


def _respond(request: Request[Any, Any, Any], error: Exception, answer: Answer) -> Response[dict[str, Any]]:
    return Response(
        content=error_body(error, answer, correlation_id_of(request.scope)),
        status_code=answer.status,
        headers=answer.headers,
        media_type="application/json",
    )


def _handle(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if isinstance(exc, HTTPException):
        exc = _from_litestar(exc)
    answer = answer_of(exc)
    if answer is INTERNAL:
        _log.error(
            "unhandled error on %s %s", request.method, request.url.path, exc_info=(type(exc), exc, exc.__traceback__)
        )
    elif not isinstance(exc, DomainError):
        _log.warning("dependency unavailable on %s %s: %s", request.method, request.url.path, exc)
    return _respond(request, exc, answer)


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


_CLIENT_GONE: Final = "client disconnected prematurely"
"""What Litestar's request says when the client goes before the body is read (it has no exception of its own)."""


def _from_litestar(exc: HTTPException) -> Exception:
    """Litestar's own exception as the error it stands for."""
    if isinstance(exc, NotFoundException):
        return not_found("no such resource")
    if isinstance(exc, MethodNotAllowedException):
        # Keep the router's Allow header: it tells the client which methods would work.
        allow = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
        return ApiError(405, ErrorCode.METHOD_NOT_ALLOWED, "method not allowed on this resource", headers=allow)
    if isinstance(exc, RequestEntityTooLarge):
        return ApiError(413, ErrorCode.PAYLOAD_TOO_LARGE, "request body is too large")
    if isinstance(exc, InternalServerException) and exc.detail == _CLIENT_GONE:
        # The client went before its body was read (or was cut for sending it too slowly): not a fault of the
        # server, and the answer reaches nobody.
        return ApiError(400, ErrorCode.VALIDATION_ERROR, "the request body ended before it was complete")
    if isinstance(exc, ValidationException):
        return validation_error(_first_line(exc.detail) or "invalid request", _validation_details(exc))
    if isinstance(exc, NotAuthorizedException):
        return unauthorized("authentication required")
    if isinstance(exc, PermissionDeniedException):
        return forbidden("not allowed")
    if exc.status_code == 503:
        return service_unavailable("service unavailable")
    if 400 <= exc.status_code < 500:
        return ApiError(exc.status_code, ErrorCode.VALIDATION_ERROR, _first_line(exc.detail) or "invalid request")
    return exc


def _first_line(text: str) -> str:
    return text.splitlines()[0][:300] if text else ""


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {Exception: _handle}
"""Exception handlers to register on the app: one, which answers every error through :data:`ERROR_MAP`."""
