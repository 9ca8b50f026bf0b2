"""The page keeps up with 10,000 entities at 100x: applying a frame (parsing it and updating the picture) takes
at most 16 ms at the 95th percentile, measured in the browser. The figures are written to
test-results/performance.json (docs/performance.md records a run)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from playwright.async_api import Page

from app.settings import Settings
from store.datasets import DatasetSpec
from tests.e2e.support import RESULTS, TENANT, create_session, entity_count, eventually, load_data, msr, sign_in, status
from tests.support import RunningServer, make_token, serve

pytestmark = pytest.mark.browser

PERF_DATA = DatasetSpec("perf", 10_000, 60_000, timedelta(hours=1))
"""10,000 entities created in the first ten minutes, then 50,000 updates: at 100x, about 170 events a frame."""
FRAME_BUDGET_MS = 16.0
FRAMES = 50
"""Frames to measure; on a loaded machine the test settles for what arrives within PLAY_S, at least MIN_FRAMES."""
MIN_FRAMES = 20
PLAY_S = 20.0

_RAF_PROBE = """
() => {
  window.__rafGaps = [];
  let last = performance.now();
  const step = (now) => { window.__rafGaps.push(now - last); last = now; requestAnimationFrame(step); };
  requestAnimationFrame(step);
}
"""


@pytest.fixture
async def perf_server(settings: Settings) -> AsyncIterator[RunningServer]:
    assert settings.database_url is not None
    await load_data(settings.database_url, PERF_DATA)
    async with serve(settings) as running:
        yield running


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)] if ordered else 0.0


async def test_ten_thousand_entities_at_100x_apply_within_a_frame_budget(
    page: Page, perf_server: RunningServer
) -> None:
    await page.goto(perf_server.url + "/")
    await sign_in(page, make_token("alice", TENANT))
    await create_session(page)
    timeline = page.get_by_test_id("seek")
    box = await timeline.bounding_box()
    assert box is not None
    # Seek past the creation of every entity: the full state of 10,000 entities arrives.
    await timeline.click(position={"x": box["width"] * 0.25, "y": box["height"] / 2})
    await eventually(lambda: entity_count(page), lambda n: n >= 9_000, "the 10,000-entity state", timeout=60)
    await eventually(lambda: status(page), lambda s: s == "paused", "the state to be applied")
    state = (await msr(page, "metrics"))["state"]
    await msr(page, "resetMetrics")
    await page.evaluate(_RAF_PROBE)
    await page.get_by_test_id("speed").select_option("100")
    await page.get_by_test_id("play").click()
    # On a loaded machine fewer frames come in PLAY_S: measure those (at least MIN_FRAMES).
    with contextlib.suppress(AssertionError):
        await eventually(
            lambda: msr(page, "metrics"), lambda m: m["events"]["count"] >= FRAMES, "frames", timeout=PLAY_S
        )
    await page.get_by_test_id("pause").click()
    metrics = await msr(page, "metrics")
    gaps = [float(g) for g in await page.evaluate("window.__rafGaps")][1:]
    counters = await msr(page, "counters")
    figures = {
        "entities": await entity_count(page),
        "frames": metrics["events"]["count"],
        "events_per_frame": round(metrics["events"]["items"], 1),
        "frame_apply_ms": {key: round(metrics["events"][key], 2) for key in ("p50", "p95", "max")},
        "map_flush_ms": {key: round(metrics["flush"][key], 2) for key in ("p50", "p95", "max")},
        "state_chunk_apply_ms": {key: round(state[key], 2) for key in ("p50", "p95", "max")},
        "state_chunks": state["count"],
        "animation_frame_gap_ms": {
            "p50": round(sorted(gaps)[len(gaps) // 2], 1) if gaps else 0,
            "p95": round(p95(gaps), 1),
        },
        "conflated_frames": counters.get("conflated", 0),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    (RESULTS.parent / "performance.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    assert figures["entities"] >= 9_000
    assert metrics["events"]["count"] >= MIN_FRAMES, figures
    assert metrics["events"]["items"] >= 50, "frames carried too few events to measure anything"
    assert metrics["events"]["p95"] <= FRAME_BUDGET_MS, figures
