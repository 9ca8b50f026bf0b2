"""Prometheus metrics: served behind MSR_METRICS_TOKEN or on MSR_METRICS_PORT, in a format Prometheus parses,
counting what the replica does.

The metrics live in the test process's registry, shared by every server a test starts: tests compare before and
after, never absolute values.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from app import metrics
from app.domain.jobs_runner import ExclusiveJobs
from app.settings import ConfigError, Settings
from tests.support import bearer, make_token

TOKEN = "metrics-token-0123456789"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}
TENANT = uuid.UUID(int=12)
USER = bearer(make_token("metered", TENANT))


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels, read with Prometheus' own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 15.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not await check():
            await asyncio.sleep(0.05)


def test_metrics_settings_are_read_from_the_environment():
    settings = Settings.from_env(
        {"MSR_METRICS_TOKEN": TOKEN, "MSR_METRICS_PORT": "9100", "MSR_METRICS_HOST": "0.0.0.0"}
    )
    assert (settings.metrics_token, settings.metrics_port, settings.metrics_host) == (TOKEN, 9100, "0.0.0.0")
    defaults = Settings.from_env({})
    assert (defaults.metrics_token, defaults.metrics_port, defaults.metrics_host) == (None, None, "127.0.0.1")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"MSR_METRICS_TOKEN": "short"}, "MSR_METRICS_TOKEN"),
        ({"MSR_METRICS_PORT": "nine"}, "MSR_METRICS_PORT"),
        ({"MSR_METRICS_PORT": "70000"}, "MSR_METRICS_PORT"),
        ({"MSR_METRICS_PORT": "8000"}, "MSR_METRICS_PORT"),
    ],
)
def test_a_malformed_metrics_setting_stops_the_start_naming_it(env, variable):
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)


@pytest.fixture
def metered(settings):
    return settings.replace(metrics_token=TOKEN)


async def test_the_api_port_serves_no_metrics_without_a_configured_token(server):
    async with server.client() as client:
        response = await client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_metrics_need_the_configured_bearer_token(start_server, metered):
    async with start_server(metered) as running, running.client() as client:
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer not-the-metrics-token"})
        right = await client.get("/metrics", headers=SCRAPE)
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert wrong.json()["error"]["code"] == "UNAUTHORIZED"
    assert TOKEN not in wrong.text
    assert right.status_code == 200
    assert right.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"


async def test_http_requests_are_counted_by_route_template_and_status(start_server, metered):
    session_route = "/session/{session_id}/terminate"
    async with start_server(metered) as running, running.client() as client:
        before = parse((await client.get("/metrics", headers=SCRAPE)).text)
        await client.get("/health")
        await client.post(f"/session/{uuid.uuid4()}/terminate", headers=USER)
        await client.get("/no/such/route")
        after = parse((await client.get("/metrics", headers=SCRAPE)).text)

    def delta(route: str, status: str, method: str) -> float:
        key = ("msr_http_requests_total", (("method", method), ("route", route), ("status", status)))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("/health", "200", "GET") == 1
    assert delta(session_route, "404", "POST") == 1
    assert delta("unmatched", "404", "GET") == 1


async def test_ingest_counts_stored_duplicate_and_rejected_batches(start_server, metered):
    row = {
        "entity_id": "v-1",
        "table_name": "fleet.vehicles",
        "op": "c",
        "entity_state": {"speed": 3},
        "event_timestamp": "2026-02-01T08:00:00Z",
    }
    stored, duplicate = (
        value("msr_ingest_events_total", source="events", outcome="stored"),
        value("msr_ingest_events_total", source="events", outcome="duplicate"),
    )
    rejected = value("msr_ingest_rejected_batches_total", source="events", code="VALIDATION_ERROR")
    async with start_server(metered) as running, running.client() as client:
        assert (await client.post("/v1/ingest/events", json=[row], headers=USER)).status_code == 200
        assert (await client.post("/v1/ingest/events", json=[row], headers=USER)).status_code == 200
        bad = await client.post("/v1/ingest/events", json=[{**row, "op": "x"}], headers=USER)
        assert bad.status_code == 400
        scraped = parse((await client.get("/metrics", headers=SCRAPE)).text)
    assert value("msr_ingest_events_total", source="events", outcome="stored") == stored + 1
    assert value("msr_ingest_events_total", source="events", outcome="duplicate") == duplicate + 1
    assert value("msr_ingest_rejected_batches_total", source="events", code="VALIDATION_ERROR") == rejected + 1
    key = ("msr_ingest_rejected_batches_total", (("code", "VALIDATION_ERROR"), ("source", "events")))
    assert scraped[key] == rejected + 1


async def test_probes_report_sessions_by_status_and_dependency_latency(start_server, metered):
    latencies = value("msr_dependency_latency_seconds_count", dependency="postgres")
    async with start_server(metered) as running:
        async with running.client() as client:
            created = await client.post("/session", headers=USER)
        assert created.status_code == 201

        async def counted() -> bool:
            # This test's database holds just this session; the probe counts it within its period.
            return value("msr_sessions", kind="msr", status="ACTIVE") == 1

        await eventually(counted)
        # A connection of its own: the wait lasts about the probe's period (5 s), as long as uvicorn keeps an idle
        # connection alive, and a request sent on a pooled one just as the server closes it fails to read.
        async with running.client() as scraper:
            scraped = parse((await scraper.get("/metrics", headers=SCRAPE)).text)
    assert scraped[("msr_sessions", (("kind", "msr"), ("status", "ACTIVE")))] == 1
    assert value("msr_dependency_latency_seconds_count", dependency="postgres") > latencies
    assert value("msr_dependency_latency_seconds_count", dependency="redis") > 0


async def test_job_runs_are_counted_with_their_status_and_duration(server):
    services = server.server.config.app.state.services
    runs = value("msr_job_runs_total", kind="metrics_probe", status="completed")
    durations = value("msr_job_duration_seconds_count", kind="metrics_probe")

    async def work(report):
        await report(1.0)
        return {}

    job = await ExclusiveJobs(services.jobs, services.redis).run("metrics_probe", work)
    assert job is not None
    assert job.status == "completed"
    assert value("msr_job_runs_total", kind="metrics_probe", status="completed") == runs + 1
    assert value("msr_job_duration_seconds_count", kind="metrics_probe") == durations + 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_a_separate_metrics_port_serves_them_without_a_token_and_closes_with_the_server(start_server, settings):
    port = free_port()
    async with start_server(settings.replace(metrics_port=port)) as running, running.client() as client:
        assert (await client.get("/metrics")).status_code == 404
        async with httpx.AsyncClient() as scraper:
            response = await scraper.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"msr_http_requests", "msr_frame_lateness_seconds", "msr_viewers", "msr_playback_leases"} <= names
    assert parse(response.text)[("msr_python_heap_blocks", ())] > 0
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as scraper:
            await scraper.get(f"http://127.0.0.1:{port}/metrics")


def test_playback_counters_move_with_the_calls_the_playback_code_makes():
    before = {
        "viewers": value("msr_viewers"),
        "frames": value("msr_frames_sent_total"),
        "events": value("msr_frame_events_sent_total"),
        "conflated": value("msr_frames_conflated_total"),
        "resyncs": value("msr_resyncs_total"),
        "late": value("msr_frame_lateness_seconds_bucket", le="0.025"),
        "count": value("msr_frame_lateness_seconds_count"),
    }
    metrics.viewer_attached()
    metrics.viewer_attached()
    metrics.viewer_detached()
    metrics.frames_sent(events=7, viewers=2)
    metrics.frames_conflated(3)
    metrics.resynced()
    metrics.resynced(2)
    metrics.frame_produced(lateness_s=0.02)
    metrics.frame_produced(lateness_s=0.5)
    metrics.frame_produced(lateness_s=-0.001)  # early counts as on time
    for event in metrics.LEASE_EVENTS:
        lease_before = value("msr_playback_leases_total", event=event)
        metrics.lease_event(event)
        assert value("msr_playback_leases_total", event=event) == lease_before + 1
    assert value("msr_viewers") == before["viewers"] + 1
    assert value("msr_frames_sent_total") == before["frames"] + 2
    assert value("msr_frame_events_sent_total") == before["events"] + 14
    assert value("msr_frames_conflated_total") == before["conflated"] + 3
    assert value("msr_resyncs_total") == before["resyncs"] + 3
    assert value("msr_frame_lateness_seconds_bucket", le="0.025") == before["late"] + 2
    assert value("msr_frame_lateness_seconds_count") == before["count"] + 3
    metrics.viewer_detached()
    with pytest.raises(ValueError, match="unknown lease event"):
        metrics.lease_event("stolen")


def test_the_grafana_dashboard_charts_only_metrics_the_replicas_expose():
    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}
    exposed = {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("msr_")
        for suffix in suffixes[family.type]
    }
    dashboard = json.loads((Path(__file__).parents[1] / "deploy" / "grafana" / "msr-dashboard.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bmsr_[a-z_]+", target["expr"])
    }
    assert used, "the dashboard charts nothing"
    assert used <= exposed, f"the dashboard uses metrics nobody exposes: {sorted(used - exposed)}"


async def test_a_viewer_watching_a_session_play_moves_the_playback_metrics(start_server, metered):
    from tests.live import support  # noqa: PLC0415
    from tests.live.support import Watcher, ingest, make_history, new_session, open_socket, recent_start  # noqa: PLC0415

    history = make_history(recent_start(), seconds=20)
    async with start_server(metered) as running, running.client() as client:
        await ingest(client, history)
        session_id = await new_session(client)
        before = parse((await client.get("/metrics", headers=SCRAPE)).text)
        async with open_socket(running.url, session_id, make_token("viewer-1", support.TENANT)) as ws:
            watcher = Watcher(ws, history)
            await watcher.state_complete()
            await watcher.send(type="start", speed=10)
            await watcher.until(lambda m: m["type"] == "events" and len(watcher.frames) >= 3)
            during = parse((await client.get("/metrics", headers=SCRAPE)).text)

        async def viewer_gone() -> bool:
            after = parse((await client.get("/metrics", headers=SCRAPE)).text)
            return after[("msr_viewers", ())] == before[("msr_viewers", ())]

        await eventually(viewer_gone)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return during.get(key, 0.0) - before.get(key, 0.0)

    assert grew("msr_viewers") == 1
    assert grew("msr_frames_sent_total") >= 3
    assert grew("msr_frame_events_sent_total") >= 1
    assert grew("msr_frame_lateness_seconds_count") >= 3
    assert grew("msr_playback_leases_total", event="acquired") == 1
