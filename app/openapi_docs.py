"""How routes describe their answers in the OpenAPI document at ``/schema``.

The success envelope around a model, and the error envelope of SPEC section 7 for each status a route can answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any, Final

import msgspec
from litestar import Litestar, Request
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.params import QueryParameter
from litestar.routes import HTTPRoute

from app.errors import ERROR_MAP, ErrorCode

_REASONS = {
    400: "bad parameter: VALIDATION_ERROR naming the field in details.field (or another 400 code of SPEC 7)",
    401: "UNAUTHORIZED: no valid bearer token",
    403: "FORBIDDEN: not an admin, or another tenant without the global admin role",
    404: "NOT_FOUND: no such resource for this caller (another tenant's resources do not exist for it)",
    408: "REQUEST_TIMEOUT: the body did not arrive within MSR_HTTP_BODY_TIMEOUT_S of the request's head",
    409: "CONFLICT: the resource's state does not allow the request",
    413: "PAYLOAD_TOO_LARGE: the body is larger than MSR_MAX_BODY_BYTES",
    429: "SESSION_LIMIT_REACHED: max_active_sessions is reached; terminate a session or retry",
    416: "RANGE_NOT_SATISFIABLE: the Range lies outside the file",
    431: "REQUEST_HEADERS_TOO_LARGE: the request line and headers are over MSR_HTTP_MAX_HEADER_BYTES",
    500: "INTERNAL_SERVER_ERROR: a fault of the server, logged with the correlation id",
    503: "SERVICE_UNAVAILABLE: PostgreSQL or Redis is unreachable; retry",
}


class ErrorDetail(msgspec.Struct):
    """The ``error`` object of an error answer."""

    code: ErrorCode
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
    """The ``page`` object of a list answer (seed 000's): the page's number and size, how many match, how many here."""

    number: Annotated[int, msgspec.Meta(ge=1)]
    size: Annotated[int, msgspec.Meta(ge=1)]
    total_records: Annotated[int, msgspec.Meta(ge=0)]
    count: Annotated[int, msgspec.Meta(ge=0)]


class SortedPageInfo(PageInfo):
    """The ``page`` of a sortable list: also its order, ``column,direction`` items, the first deciding first."""

    sort: list[Annotated[str, msgspec.Meta(pattern=r"^[a-z_]+,(asc|desc)$")]]


def page_size_parameter(name: str, description: str, maximum: int) -> Any:
    """A query parameter counting items of a page, 1 to ``maximum``; the route parses it (a 400 names it)."""
    return QueryParameter(
        name=name, description=description, schema_extra={"type": "integer", "minimum": 1, "maximum": maximum}
    )


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """The error answers a route can give, each in the error envelope."""
    return {
        status: ResponseSpec(data_container=ErrorEnvelope, description=_REASONS[status], generate_examples=False)
        for status in statuses
    }


def answer(model: type[msgspec.Struct], description: str) -> ResponseSpec:
    """A success answer whose body is ``model`` (an envelope struct), described by msgspec's JSON Schema of it.

    msgspec's schema keeps what Litestar's loses: the constraints of an optional or nullable field.
    """
    return ResponseSpec(data_container=model, description=description, generate_examples=False)


# The document as a whole: what every operation gets from one place, whatever route it is.

ERROR_SCHEMA_REF: Final = "#/components/schemas/ErrorEnvelope"
UUID_PATTERN: Final = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
"""A UUID as the API takes it: the canonical 8-4-4-4-12 hexadecimal form."""
TABLE_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$"
"""A table filter's name: ``table`` or ``schema.table``."""
TABLE_LIST_PATTERN: Final = (
    r"^[\s,]*[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?\s*"
    r"(,[\s,]*[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?\s*)*[\s,]*$"
)
"""Table names separated by commas, as the filters take them (blanks around names and empty items ignored)."""
TableFilter = (
    Annotated[str, msgspec.Meta(pattern=TABLE_LIST_PATTERN)]
    | Annotated[list[Annotated[str, msgspec.Meta(pattern=TABLE_PATTERN)]], msgspec.Meta(min_length=1, max_length=100)]
    | None
)
"""A table filter in a body: a comma list, or a list of names."""
Instant = Annotated[datetime, msgspec.Meta(tz=True)]
"""An instant with a zone, for the models that document a body (``format: date-time``)."""
_UUID: Final = {"type": "string", "format": "uuid"}
_INSTANT: Final = {"type": "string", "format": "date-time", "description": "RFC3339 with a zone"}
# JSON Schema 2020-12 makes ``format`` an annotation, so clients and fuzzers may ignore it: the patterns say the same.
FORMAT_PATTERNS: Final = {
    "uuid": UUID_PATTERN,
    "date-time": (
        r"^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
        r"(\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
    ),
}
PARAMETER_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "session_id": _UUID,
    "X-Session-ID": _UUID,
    "job_id": _UUID,
    "bookmark_id": _UUID,
    "export_id": _UUID,
    "replay_id": _UUID,
    "tenant_id": _UUID,
    "start": _INSTANT,
    "end": _INSTANT,
    "timestamp": _INSTANT,
    "filter_min_timestamp": _INSTANT,
    "page": {"type": "integer", "minimum": 1, "maximum": 10**6},
    "occ_lock": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
}
"""The type of a parameter by its name, wherever it appears, unless its route documents a narrower one.

Routes keep parsing these from text, so that a bad value is answered with the field SPEC section 7 names.
"""

_HTTP_ONLY: Final = {
    405: (ErrorCode.METHOD_NOT_ALLOWED,),
    408: (ErrorCode.REQUEST_TIMEOUT,),
    413: (ErrorCode.PAYLOAD_TOO_LARGE,),
    416: (ErrorCode.RANGE_NOT_SATISFIABLE,),
    431: (ErrorCode.REQUEST_HEADERS_TOO_LARGE,),
    500: (ErrorCode.INTERNAL_SERVER_ERROR,),
}


def _codes_by_status() -> dict[int, tuple[ErrorCode, ...]]:
    by_status: dict[int, list[ErrorCode]] = {}
    for answer_ in ERROR_MAP.values():
        codes = by_status.setdefault(answer_.status, [])
        if answer_.code not in codes:
            codes.append(answer_.code)
    for status, extra in _HTTP_ONLY.items():
        by_status.setdefault(status, []).extend(extra)
    return {status: tuple(codes) for status, codes in sorted(by_status.items())}


CODES_BY_STATUS: Final = _codes_by_status()
"""Each error status of the API with the envelope codes it carries (from :data:`app.errors.ERROR_MAP`)."""


def _error_response(status: int) -> dict[str, Any]:
    codes = CODES_BY_STATUS.get(status, (ErrorCode.VALIDATION_ERROR,))
    return {
        "description": _REASONS.get(status, " or ".join(codes)),
        "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
    }


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without Litestar's ``oneOf [X, null]`` of an optional value (a query has no null)."""
    variants = schema.get("oneOf")
    if isinstance(variants, list):
        kept = [variant for variant in variants if variant.get("type") != "null"]
        if len(kept) == 1:
            return {**kept[0], **{k: v for k, v in schema.items() if k != "oneOf"}}
    return schema


def _typed_parameter(parameter: dict[str, Any]) -> dict[str, Any]:
    schema = _plain(parameter.get("schema", {}))
    named = PARAMETER_SCHEMAS.get(parameter["name"])
    if named is None:
        return {**parameter, "schema": schema}
    if schema.get("type") == "string" and not ({"format", "enum", "pattern"} & schema.keys()):
        schema = {**schema, **named}
    elif schema.get("type") == named["type"]:
        schema = {**named, **schema}
    return {**parameter, "schema": schema}


def _statuses(handler: HTTPRouteHandler, operation: dict[str, Any], method: str) -> set[int]:
    """The error statuses an operation can answer, from what its handler asks for."""
    names = set(handler.parsed_fn_signature.parameters)
    # Any request head may be too large (app.serving answers it before the application).
    statuses = {431, 500}
    if "services" in names:
        statuses.add(503)
    if {"principal", "admin"} & names:
        statuses |= {401, 403}
    reads_body = "data" in names or ("request" in names and method in ("post", "put", "patch"))
    if operation.get("parameters") or reads_body:
        statuses.add(400)
    if reads_body:
        statuses |= {408, 413}
    # A path identity (a UUID) may name nothing the caller can see; other path values (a user id) are not looked up.
    if any(
        parameter["in"] == "path" and parameter["schema"].get("format") == "uuid"
        for parameter in operation.get("parameters", ())
    ):
        statuses.add(404)
    return statuses


def _body_model(handler: HTTPRouteHandler) -> tuple[Any, bool] | None:
    """The model of an operation's JSON body and whether it is required.

    A route that reads its body itself names its model in ``opt["request_body"]`` (``opt["request_body_required"]``
    False when it may be left out); a ``data`` parameter of a struct is redone here so that a struct forbidding
    unknown fields says so (``additionalProperties: false``), which Litestar's own schema leaves out.
    """
    model = handler.opt.get("request_body")
    if model is not None:
        return model, bool(handler.opt.get("request_body_required", True))
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is not None and isinstance(data.annotation, type) and issubclass(data.annotation, msgspec.Struct):
        return data.annotation, True
    return None


def complete_document(app: Litestar, document: dict[str, Any]) -> dict[str, Any]:
    """Finish Litestar's document in place: what each operation answers on error, its security, its parameters.

    Every operation lists each error status it can answer with the error envelope of SPEC section 7 (statuses a
    route declares itself, such as 409 or 429, plus those its handler implies: 400 for parameters or a body, 401
    and 403 behind a token, 404 for a path identity (a UUID), 408 and 413 for a body, 503 for a dependency, 431 and
    500 always); a route that takes no token declares no security; parameters get their types from
    :data:`PARAMETER_SCHEMAS`; bodies, and the success answers declared with :func:`answer`, msgspec's schema of
    their model. Idempotent: the cached document may be finished again.
    """
    components = document.setdefault("components", {}).setdefault("schemas", {})
    paths = document.get("paths", {})
    models: list[Any] = [ErrorEnvelope]
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path_format not in paths:
            continue
        for method, (handler, _) in route.route_handler_map.items():
            operation = paths[route.path_format].get(method.lower())
            if operation is None:
                continue
            body = _body_model(handler)
            if body is not None:
                models.append(body[0])
                operation["requestBody"] = {"required": body[1], "content": {"application/json": {"schema": body[0]}}}
            for status, answer_ in handler.opt.get("answers", {}).items():
                models.extend(kind.model for kind in answer_.content.values() if kind.model is not None)
                operation.setdefault("responses", {})[str(status)] = answer_.as_openapi()
            for status, spec in (handler.responses or {}).items():
                model = spec.data_container
                if status < HTTPStatus.BAD_REQUEST and isinstance(model, type) and issubclass(model, msgspec.Struct):
                    models.append(model)
                    operation["responses"][str(status)]["content"] = {"application/json": {"schema": model}}
            _complete_operation(handler, operation, method.lower())
    schemas, definitions = msgspec.json.schema_components(models, ref_template="#/components/schemas/{name}")
    components.update(definitions)
    by_model = dict(zip(models, schemas, strict=True))
    for item in paths.values():
        for operation in item.values():
            bodies = [operation.get("requestBody", {}), *operation.get("responses", {}).values()]
            for content in (kind for body in bodies for kind in body.get("content", {}).values()):
                if not isinstance(content.get("schema", {}), dict):
                    content["schema"] = by_model[content["schema"]]
    _add_format_patterns(document)
    return document


def _add_format_patterns(node: Any) -> None:
    """Give every string schema of a known ``format`` the pattern of :data:`FORMAT_PATTERNS`."""
    if isinstance(node, dict):
        kind = node.get("format")
        pattern = FORMAT_PATTERNS.get(kind) if isinstance(kind, str) else None
        if pattern is not None and "pattern" not in node:
            node["pattern"] = pattern
        for value in node.values():
            _add_format_patterns(value)
    elif isinstance(node, list):
        for value in node:
            _add_format_patterns(value)


def _complete_operation(handler: HTTPRouteHandler, operation: dict[str, Any], method: str) -> None:
    names = set(handler.parsed_fn_signature.parameters)
    operation["security"] = [{"bearer": []}] if {"principal", "admin"} & names else []
    operation["parameters"] = [_typed_parameter(parameter) for parameter in operation.get("parameters", ())]
    if not operation["parameters"]:
        del operation["parameters"]
    responses = operation.setdefault("responses", {})
    declared = {int(status): entry for status, entry in responses.items() if int(status) >= 400}
    for status in sorted(declared.keys() | _statuses(handler, operation, method)):
        entry = _error_response(status)
        own = declared.get(status, {}).get("description")
        if own and own != HTTPStatus(status).description:
            entry["description"] = own
        responses[str(status)] = entry


@dataclass(frozen=True)
class Body:
    """One media type of an answer: the model of the whole body (JSON), or of each line (NDJSON); None: bytes."""

    model: Any = None


@dataclass(frozen=True)
class StreamedAnswer:
    """An answer Litestar cannot describe (a streamed body, several media types, headers), for ``opt["answers"]``."""

    description: str
    content: dict[str, Body]
    headers: dict[str, str] = dc_field(default_factory=dict)

    def as_openapi(self) -> dict[str, Any]:
        """The response object; models are replaced by their schema references by :func:`complete_document`."""
        content = {
            media: {"schema": body.model if body.model is not None else {"type": "string", "format": "binary"}}
            for media, body in self.content.items()
        }
        headers = {name: {"description": text, "schema": {"type": "string"}} for name, text in self.headers.items()}
        return {"description": self.description, "headers": headers, "content": content}


class CompleteJsonRenderPlugin(JsonRenderPlugin):
    """Serves the document as :func:`complete_document` finishes it."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, complete_document(request.app, openapi_schema))


def openapi_document(app: Litestar) -> dict[str, Any]:
    """The OpenAPI document the app serves at ``/schema`` (no server needed: ``msr openapi`` prints it)."""
    return complete_document(app, app.openapi_schema.to_schema())
