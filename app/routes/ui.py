"""The browser UI: ``/`` is the page, ``/static/...`` its assets, all from the static folder."""

from __future__ import annotations

from pathlib import Path

from litestar import Router, get
from litestar.response import File
from litestar.static_files import create_static_files_router


def ui_router(static_dir: Path) -> Router:
    """Routes serving the UI from ``static_dir`` (``MSR_STATIC_DIR``)."""

    @get("/", include_in_schema=False, media_type="text/html")
    async def index() -> File:
        return File(static_dir / "index.html", content_disposition_type="inline")

    assets = create_static_files_router(path="/static", directories=[static_dir], include_in_schema=False)
    return Router(path="/", route_handlers=[index, assets])
