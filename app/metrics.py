"""The replica's Prometheus metrics: each defined once here, with the small function the counting code calls.

The rest of the code never touches prometheus_client: it calls ``metrics.frames_sent(...)``,
``metrics.lease_event(...)`` and the like, so names, labels and buckets stay in this one file (docs/deploy.md
lists them, deploy/grafana-dashboard.json charts them).

Several processes: when ``PROMETHEUS_MULTIPROC_DIR`` names an empty, writable folder before the server starts
(prometheus_client's own convention, read by the library when it is imported), every process writes its values
there and :func:`render` merges them; gauges say how (``livesum`` for this replica's viewers, ``mostrecent`` for
fleet-wide figures read from PostgreSQL). Without it, the values live in this process.
"""

from __future__ import annotations

import os
import sys
from typing import Final

from litestar.types import Message, Scope
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

_SHORT_S: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LATENESS_S: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_JOB_S: Final = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)

HTTP_REQUESTS = Counter(
    "msr_http_requests", "HTTP requests answered, by method, route template and status.", ["method", "route", "status"]
)
INGEST_EVENTS = Counter(
    "msr_ingest_events",
    "Events of accepted ingest batches, by source (events, debezium) and outcome (stored, duplicate, skipped).",
    ["source", "outcome"],
)
INGEST_REJECTED = Counter(
    "msr_ingest_rejected_batches", "Ingest batches refused whole, by source and error code.", ["source", "code"]
)
SESSIONS = Gauge(
    "msr_sessions",
    "Sessions in PostgreSQL by kind (msr, rnr) and status (ACTIVE, INACTIVE); fleet-wide, the same on every replica.",
    ["kind", "status"],
    multiprocess_mode="mostrecent",
)
VIEWERS = Gauge("msr_viewers", "WebSocket viewers attached to this replica.", multiprocess_mode="livesum")
HEAP_BLOCKS = Gauge(
    "msr_python_heap_blocks",
    "Memory blocks held by the live Python objects of this replica (sys.getallocatedblocks), read every 5 s: "
    "the live heap, which returns to its level once a burst of viewers is gone, where the RSS keeps what the "
    "allocators hold on to.",
    multiprocess_mode="livesum",
)
FRAMES_SENT = Counter("msr_frames_sent", "Frames sent to viewers (one per viewer and frame).")
EVENTS_SENT = Counter("msr_frame_events_sent", "Events carried by the frames sent to viewers.")
FRAMES_CONFLATED = Counter(
    "msr_frames_conflated", "Times a slow viewer's pending frames were folded into one (docs/protocol.md, conflation)."
)
RESYNCS = Counter("msr_resyncs", "Viewers sent a full state again instead of the frames they missed.")
LEASES = Counter(
    "msr_playback_leases",
    "Session clock leases by event: acquired (a free clock), taken_over (from a replica that stopped renewing), "
    "lost (this replica could not renew).",
    ["event"],
)
FRAME_LATENESS = Histogram(
    "msr_frame_lateness_seconds",
    "How long after its due time a session's frame was produced by the replica owning the clock.",
    buckets=_LATENESS_S,
)
JOB_RUNS = Counter("msr_job_runs", "Maintenance jobs run by this replica, by kind and end status.", ["kind", "status"])
JOB_DURATION = Histogram("msr_job_duration_seconds", "Run time of maintenance jobs, by kind.", ["kind"], buckets=_JOB_S)
DEPENDENCY_LATENCY = Histogram(
    "msr_dependency_latency_seconds",
    "Round trip of a probe (PostgreSQL SELECT 1 through the pool, Redis PING), by dependency.",
    ["dependency"],
    buckets=_SHORT_S,
)
DATABASE_READS = Counter(
    "msr_database_reads",
    "Replay reads with a read replica configured, by where they went: replica, or primary (the replica lagged).",
    ["target"],
)
DEPENDENCY_FAILURES = Counter(
    "msr_dependency_probe_failures", "Probes that failed or timed out, by dependency.", ["dependency"]
)

_UNMATCHED = "unmatched"
"""The route label of requests that matched no route (kept apart so that scanners cannot grow the label set)."""


async def count_http_response(message: Message, scope: Scope) -> None:
    """``before_send`` hook: count each HTTP answer by route template (``/session/{session_id}``) and status."""
    if message["type"] == "http.response.start":
        route = scope.get("path_template") or _UNMATCHED
        HTTP_REQUESTS.labels(scope.get("method", ""), route, str(message["status"])).inc()


def ingest_stored(source: str, *, stored: int, duplicates: int, skipped: int) -> None:
    """An ingest batch of ``source`` was accepted."""
    for outcome, count in (("stored", stored), ("duplicate", duplicates), ("skipped", skipped)):
        if count:
            INGEST_EVENTS.labels(source, outcome).inc(count)


def ingest_rejected(source: str, code: str) -> None:
    """An ingest batch of ``source`` was refused with the error ``code``."""
    INGEST_REJECTED.labels(source, code).inc()


def sessions_counted(counts: dict[tuple[str, str], int]) -> None:
    """The sessions per ``(kind, status)`` as PostgreSQL counted them just now (absent pairs read 0)."""
    for kind in ("msr", "rnr"):
        for status in ("ACTIVE", "INACTIVE"):
            SESSIONS.labels(kind, status).set(counts.get((kind, status), 0))


def viewer_attached() -> None:
    """A viewer's WebSocket was accepted on this replica."""
    VIEWERS.inc()


def viewer_detached() -> None:
    """A viewer's WebSocket on this replica ended (whatever the reason)."""
    VIEWERS.dec()


def frames_sent(events: int, viewers: int) -> None:
    """One frame carrying ``events`` events went out to ``viewers`` viewers.

    Counted once per fan-out: a thousand viewers of a session made a thousand counter increments per frame, 7 % of
    the server's work in a reconnect storm.
    """
    FRAMES_SENT.inc(viewers)
    EVENTS_SENT.inc(events * viewers)


def frames_conflated(count: int = 1) -> None:
    """Slow viewers' pending frames were folded into one, ``count`` times (the outboxes' ``conflations``)."""
    FRAMES_CONFLATED.inc(count)


def resynced(count: int = 1) -> None:
    """Viewers were sent a full state instead of the frames they missed, ``count`` times."""
    RESYNCS.inc(count)


LEASE_EVENTS: Final = ("acquired", "taken_over", "lost")


def lease_event(event: str) -> None:
    """This replica ``acquired``, ``taken_over`` or ``lost`` a session clock's lease."""
    if event not in LEASE_EVENTS:
        raise ValueError(f"unknown lease event {event!r}; one of {LEASE_EVENTS}")
    LEASES.labels(event).inc()


def frame_produced(lateness_s: float) -> None:
    """The owner of a session's clock produced a frame ``lateness_s`` after it was due (0 when on time)."""
    FRAME_LATENESS.observe(max(0.0, lateness_s))


def job_finished(kind: str, status: str, duration_s: float) -> None:
    """A maintenance job of ``kind`` ended with ``status`` after ``duration_s``."""
    JOB_RUNS.labels(kind, status).inc()
    JOB_DURATION.labels(kind).observe(duration_s)


def dependency_probed(dependency: str, seconds: float | None) -> None:
    """A probe of ``dependency`` answered in ``seconds``, or failed (None)."""
    if seconds is None:
        DEPENDENCY_FAILURES.labels(dependency).inc()
    else:
        DEPENDENCY_LATENCY.labels(dependency).observe(seconds)


def database_read(target: str) -> None:
    """A replay read went to the ``replica`` or, the replica lagging, to the ``primary``."""
    DATABASE_READS.labels(target).inc()


def registry() -> CollectorRegistry:
    """The registry to expose: every process's values in multiprocess mode, else this process's."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    merged = CollectorRegistry()
    MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
    return merged


CONTENT_TYPE: Final = "text/plain; version=0.0.4"
"""The classic text format, which every Prometheus reads (Litestar adds ``charset=utf-8``)."""


def heap_measured() -> None:
    """Read the live heap into its gauge.

    The probes call it (in every process, whichever port serves the metrics), and so does each scrape of the API port.
    """
    HEAP_BLOCKS.set(sys.getallocatedblocks())


def render() -> bytes:
    """The metrics in Prometheus' text format (:data:`CONTENT_TYPE`)."""
    heap_measured()
    return generate_latest(registry())
