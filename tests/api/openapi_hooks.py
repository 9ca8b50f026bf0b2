"""Schemathesis hooks of the OpenAPI contract test (loaded with ``SCHEMATHESIS_HOOKS``).

The built-in ``positive_data_acceptance`` check is replaced by :func:`schema_valid_requests_are_accepted`, the same
check with a short list of refusals no JSON Schema can foresee, each by its error code and field: they depend on the
server's state (the tenant's playback range, the runtime settings, the cursors it gave) or relate two values (a
window's ends, the filter pair). Any other 400 to a schema-valid request still fails.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

_ACCEPTED = ("2", "3")
_ALSO_ACCEPTED = {401, 403, 404, 409, 416, 429}
"""Refusals that depend on who asks and on the server's state: a 416 is a well-formed ``Range`` past the file's end."""
STATE_DEPENDENT: dict[tuple[str, str | None], str] = {
    ("TIMESTAMP_OUT_OF_RANGE", None): "the playback range moves with the clock and the tenant's data",
    ("INVALID_PLAYBACK_WINDOW", None): "the longest window is the runtime setting max_playback_range",
    ("VALIDATION_ERROR", "cursor"): "a cursor is valid only when this server gave it",
    ("VALIDATION_ERROR", "session_id"): "a user names the session in X-Session-ID or session_id (one of two places)",
    ("VALIDATION_ERROR", "filter_tables"): "filter_tables and filter_min_timestamp go together",
    ("VALIDATION_ERROR", "filter_min_timestamp"): "filter_tables and filter_min_timestamp go together",
    ("VALIDATION_ERROR", "start"): "start must not be after end",
    ("VALIDATION_ERROR", "replay_end_timestamp"): "a replay's end must be after its start",
    ("VALIDATION_ERROR", "from"): "a replay's loop gives from and to together",
    ("VALIDATION_ERROR", "to"): "a replay's loop gives from and to together",
    ("VALIDATION_ERROR", "bucket"): "the window must hold 1 to MAX_BUCKETS buckets of this width",
    ("VALIDATION_ERROR", "snapshot_interval"): "a cron expression croniter accepts",
    ("VALIDATION_ERROR", "list_tables"): "tables named schema.table",
    ("VALIDATION_ERROR", "data_retention_cron_expression"): "a cron expression croniter accepts",
}
"""Refusals of schema-valid requests that are right, by (code, details.field) (None: any field), and why."""
_BODY_RULES = {"POST /v1/ingest/events", "POST /v1/ingest/debezium", "PUT /admin/settings"}
"""Operations whose bodies have rules past their schema (an event's fields by its op, Debezium's envelopes, each
setting's bounds); a 400 naming what is wrong is right for them."""


def _refusal(body: Any) -> tuple[str, str | None]:
    error = body.get("error", {}) if isinstance(body, dict) else {}
    details = error.get("details") or {}
    return str(error.get("code")), details.get("field") if isinstance(details, dict) else None


@schemathesis.check
def schema_valid_requests_are_accepted(ctx: Any, response: Any, case: Any) -> None:
    """A schema-valid request is not refused as malformed, but for :data:`STATE_DEPENDENT` refusals."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    status = response.status_code
    if str(status)[0] in _ACCEPTED or status in _ALSO_ACCEPTED or status >= 500:
        return
    try:
        code, field = _refusal(json.loads(response.content))
    except ValueError:
        code, field = "", None
    if status == 400 and (
        (code, field) in STATE_DEPENDENT or (code, None) in STATE_DEPENDENT or case.operation.label in _BODY_RULES
    ):
        return
    raise AssertionError(f"schema-valid request refused with {status} {code} (field {field})")
