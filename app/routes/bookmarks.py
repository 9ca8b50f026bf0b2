"""Bookmarks of instants with a note, per user: ``POST /bookmarks``, ``GET /bookmarks``, ``DELETE /bookmarks/{id}``.

A bookmark is its user's: another user's (of the same tenant or not) is a 404, as if it did not exist.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Response

from app.auth import Principal
from app.domain.replay import parse_instant
from app.errors import not_found, validation_error
from app.openapi_docs import Instant, answer, page_size_parameter
from app.routes.sessions import parse_uuid
from app.services import PrincipalDep, ServicesDep
from app.web import envelope, parse_rfc3339, rfc3339
from store.bookmarks import Bookmark, BookmarkOwner, BookmarkRepository

MAX_NOTE = 500
"""Longest note, in characters."""
_DEFAULT_LIMIT = 100
_MAX_LIMIT = 500


class BookmarkRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``POST /bookmarks``."""

    at: str | None = None
    """Required: the instant, RFC3339 with a zone."""
    note: str = ""
    """Up to 500 characters."""


class BookmarkBody(msgspec.Struct, forbid_unknown_fields=True):
    """What ``POST /bookmarks`` accepts (:class:`BookmarkRequest` reads it, so that a 400 names the field)."""

    at: Instant
    note: Annotated[str, msgspec.Meta(max_length=MAX_NOTE)] = ""


class BookmarkModel(msgspec.Struct):
    """A bookmark: the instant, its note, and when it was made."""

    id: uuid.UUID
    at: Instant
    note: Annotated[str, msgspec.Meta(max_length=MAX_NOTE)]
    created_at: Instant


class BookmarkEnvelope(msgspec.Struct):
    """One bookmark."""

    data: BookmarkModel
    message: str
    sent_at: Instant


class BookmarkPaging(msgspec.Struct):
    """The ``page`` of ``GET /bookmarks``: ``next_cursor`` continues when more bookmarks follow."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=_MAX_LIMIT)]
    count: Annotated[int, msgspec.Meta(ge=0)]
    next_cursor: str | None


class BookmarkListEnvelope(msgspec.Struct):
    """A page of bookmarks, in time order."""

    data: list[BookmarkModel]
    message: str
    page: BookmarkPaging
    sent_at: Instant


Limit = Annotated[
    str | None,
    page_size_parameter("limit", f"bookmarks per page (default {_DEFAULT_LIMIT})", _MAX_LIMIT),
]


def bookmark_json(bookmark: Bookmark) -> dict[str, Any]:
    """A bookmark as the API shows it."""
    return {
        "id": str(bookmark.id),
        "at": rfc3339(bookmark.at),
        "note": bookmark.note,
        "created_at": rfc3339(bookmark.created_at),
    }


def _owner(principal: Principal) -> BookmarkOwner:
    return BookmarkOwner(principal.tenant_id, principal.user_id)


def _cursor(bookmark: Bookmark) -> str:
    return base64.urlsafe_b64encode(f"{rfc3339(bookmark.at)}|{bookmark.id}".encode()).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, uuid.UUID]:
    bad = validation_error("cursor is not one this server gave", {"field": "cursor"})
    try:
        moment_text, id_text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        moment, identity = parse_rfc3339(moment_text), uuid.UUID(id_text)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise bad from None
    if moment is None:
        raise bad
    return moment, identity


def _limit(raw: str | None) -> int:
    if raw is None:
        return _DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= _MAX_LIMIT:
        raise validation_error(f"limit must be an integer from 1 to {_MAX_LIMIT}", {"field": "limit"})
    return int(raw)


@post(
    "/bookmarks",
    tags=["bookmarks"],
    summary="Bookmark an instant",
    status_code=201,
    responses={201: answer(BookmarkEnvelope, "the new bookmark")},
    opt={"request_body": BookmarkBody},
)
async def create_bookmark(
    principal: PrincipalDep, services: ServicesDep, data: JSONBody[BookmarkRequest]
) -> Response[dict[str, Any]]:
    """Add a bookmark of ``at`` with a ``note`` for the caller."""
    if data.at is None:
        raise validation_error("at is required", {"field": "at"})
    at = parse_instant(data.at, "at")
    if len(data.note) > MAX_NOTE:
        raise validation_error(f"note may hold at most {MAX_NOTE} characters", {"field": "note"})
    bookmark = await BookmarkRepository(services.db).create(_owner(principal), at, data.note)
    return envelope(bookmark_json(bookmark), "Created bookmark successfully", status_code=201)


@get(
    "/bookmarks",
    tags=["bookmarks"],
    summary="The caller's bookmarks",
    responses={200: answer(BookmarkListEnvelope, "a page of the caller's bookmarks, in time order")},
)
async def list_bookmarks(
    principal: PrincipalDep,
    services: ServicesDep,
    start: FromQuery[str | None] = None,
    end: FromQuery[str | None] = None,
    limit: Limit = None,
    cursor: FromQuery[str | None] = None,
) -> Response[dict[str, Any]]:
    """The caller's bookmarks with ``start <= at <= end`` (each optional) in time order.

    ``limit`` per page (100, at most 500); ``page.next_cursor`` continues.
    """
    first = None if start is None else parse_instant(start, "start")
    last = None if end is None else parse_instant(end, "end")
    if first is not None and last is not None and first > last:
        raise validation_error("start must not be after end", {"field": "start"})
    size = _limit(limit)
    after = None if cursor is None else _after(cursor)
    found = await BookmarkRepository(services.db).list(
        _owner(principal), start=first, end=last, after=after, limit=size + 1
    )
    items = found[:size]
    next_cursor = _cursor(items[-1]) if len(found) > size else None
    return envelope(
        [bookmark_json(b) for b in items],
        "Get bookmarks successfully",
        page={"limit": size, "count": len(items), "next_cursor": next_cursor},
    )


@delete("/bookmarks/{bookmark_id:str}", tags=["bookmarks"], summary="Delete a bookmark", status_code=204)
async def delete_bookmark(principal: PrincipalDep, services: ServicesDep, bookmark_id: FromPath[str]) -> None:
    """Remove one of the caller's bookmarks (404 when the caller has none with this id)."""
    identity = parse_uuid(bookmark_id, "bookmark_id")
    if not await BookmarkRepository(services.db).delete(_owner(principal), identity):
        raise not_found(f"no bookmark {identity}")


ROUTES = [create_bookmark, list_bookmarks, delete_bookmark]
