"""The map page reports its viewport: zoomed in, the server sends only the entities in view and the page shows
"N in view / M total"; zoomed out again, everything comes back. A screenshot is left for a look."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Page, WebSocket

from bench.pages import RESULTS, TENANT, create_session, entity_count, eventually, msr, sign_in, status
from tests.support import RunningServer, make_token

pytestmark = pytest.mark.browser

ZOOM_BY = "() => { const map = window.__msr.mapInstance(); map.jumpTo({ zoom: map.getZoom() + %d }); }"


async def total_count(page: Page) -> int:
    return int(await page.get_by_test_id("total-count").inner_text())


async def counts(page: Page) -> tuple[int, int]:
    return await entity_count(page), await total_count(page)


def _points(coordinates: object) -> list[tuple[float, float]]:
    if isinstance(coordinates, list) and coordinates and isinstance(coordinates[0], int | float):
        return [(float(coordinates[0]), float(coordinates[1]))]
    return [point for part in coordinates for point in _points(part)] if isinstance(coordinates, list) else []


async def outside_box(page: Page, box: tuple[float, float, float, float]) -> list[str]:
    """The entities the page holds whose bounds do not meet ``box``."""
    west, south, east, north = box
    outside = []
    for entity in await msr(page, "sample", 10_000):
        points = _points(entity["coordinates"])
        lons, lats = [p[0] for p in points], [p[1] for p in points]
        if max(lons) < west or min(lons) > east or max(lats) < south or min(lats) > north:
            outside.append(entity["key"])
    return outside


async def test_the_map_sends_its_viewport_and_shows_how_many_are_in_view(page: Page, ui_server: RunningServer) -> None:
    views: list[object] = []

    def watch(socket: WebSocket) -> None:
        socket.on(
            "framesent",
            lambda payload: views.append(json.loads(payload)["bbox"]) if '"view"' in str(payload) else None,
        )

    page.on("websocket", watch)
    await page.goto(ui_server.url + "/")
    await sign_in(page, make_token("alice", TENANT))
    await create_session(page)
    await page.get_by_test_id("speed").select_option("100")
    await page.get_by_test_id("play").click()
    await eventually(lambda: status(page), lambda s: s == "playing", "playback to start")
    # After the first state the map fits the data; the viewport it then sends holds every entity.
    await eventually(lambda: counts(page), lambda c: c[0] >= 250 and c[0] == c[1], "all entities in view")
    assert views, "the page sent its viewport"
    sent_before = len(views)

    # Zoom in on the middle of the data: a part of the entities is in view, the total stays the session's.
    await page.evaluate(ZOOM_BY % 2)
    _, total = await eventually(lambda: counts(page), lambda c: 0 < c[0] < c[1] * 0.6, "a part in view")
    assert total >= 250
    assert len(views) == sent_before + 1, "one viewport per rest of the map"
    west, south, east, north = views[-1]
    assert west < east
    assert south < north
    # Every entity the page holds meets the box it sent (bounding-box semantics).
    outside = await eventually(
        lambda: outside_box(page, (west, south, east, north)), lambda keys: not keys, "only entities in the box"
    )
    assert outside == []
    RESULTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(RESULTS / "viewport-zoomed-in.png"))

    await page.evaluate(ZOOM_BY % -2)
    await eventually(lambda: counts(page), lambda c: c[0] >= 250 and c[0] == c[1], "all entities back in view")
