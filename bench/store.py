"""G1-G3, the event store through the API, on data set M (``MSR_BENCH_DATASET=L`` for L), each with its floors
measured in the same run on the same rows:

- G1 ``GET /replay/state`` at random T (whole body received), against F1 ``COPY (<the state query>) TO STDOUT``,
  F2 an asyncpg fetch of the same rows (plain and through a cursor), F3 msgspec encoding of those rows, and the
  naive baseline (``DISTINCT ON`` over all events up to T, no snapshot);
- G2 ``GET /replay/events`` as NDJSON over 1-hour and 1-day windows, against F2 on the same rows;
- G3 ``POST /v1/ingest/events`` in batches of 5,000, against F1 COPY-in of the same rows.

The server runs in its own process (``msr serve``) on a fresh database; the client counts bytes and lines, it does
not parse JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import msgspec

from app.coordination.redis import RedisConnection
from app.demo import load_bench_data
from app.domain.admin_settings import RuntimeSettings
from app.domain.jobs_runner import Maintenance
from bench.common import SECRET, backends, bench_token, fresh_database, median, percentile, server_process, write_result
from bench.http import RawHttpConnection
from store import queries
from store.datasets import DATASETS, DatasetSpec, generate
from store.events import NO_FILTERS, STATE_AT_SQL, base_snapshot, state_arguments, stored_event
from store.jobs import JobRepository
from store.pool import Database, PoolConfig
from store.settings import SettingsRepository

DATASET = os.environ.get("MSR_BENCH_DATASET", "M")
TENANT = uuid.UUID("b3e0c5a2-6d1f-4e8a-9c47-5f2a1d3e7b90")
SEED = 1
STATE_SAMPLES = 40
FLOOR_SAMPLES = 12
NAIVE_SAMPLES = 5
HOUR_WINDOWS = 6
DAY_WINDOWS = 3
INGEST_EVENTS = 200_000
INGEST_BATCH = 5_000
INGEST_CONNECTIONS = 2
WORK_MEM = "256MB"  # the server's default query_work_mem_mb, for the floors and the baseline too

_EVENTS_BETWEEN = queries.load("events.sql")["events_between"]
_MAX_SEQ = 2**63 - 1
_NAIVE_STATE = """
SELECT table_name, entity_id, op, entity_state, event_timestamp, seq
FROM (
    SELECT DISTINCT ON (table_name, entity_id) table_name, entity_id, op::text AS op, entity_state, event_timestamp, seq
    FROM events
    WHERE tenant_id = $1 AND event_timestamp <= $2
    ORDER BY table_name, entity_id, event_timestamp DESC, seq DESC
) AS latest
WHERE op <> 'd'
"""


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def drop_database(base_url: str, database_url: str) -> None:
    """Drop the benchmark's database (a data set M takes a few GB)."""
    conn = await asyncpg.connect(base_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{urlsplit(database_url).path.lstrip("/")}" WITH (FORCE)')
    finally:
        await conn.close()


async def settle_background_jobs(database_url: str, redis_url: str) -> None:
    """Run the rollup refresh and retention now, so the server's own steps find nothing due while we measure."""
    db = Database(PoolConfig(dsn=database_url, min_size=1, max_size=2, command_timeout_s=600))
    await db.open()
    redis = RedisConnection(redis_url, "benchstore:")
    try:
        runtime = RuntimeSettings(SettingsRepository(db))
        await runtime.load()
        maintenance = Maintenance(db, redis, runtime, JobRepository(db), job_keep=timedelta(days=7))
        now = datetime.now(UTC)
        await maintenance.run_rollup_refresh_if_due(now)
        await maintenance.run_retention_if_due(now)
    finally:
        await redis.close()
        await db.close()


async def open_session(url: str, headers: dict[str, str]) -> str:
    connection = await RawHttpConnection.open(url)
    try:
        status, body = await connection.request("POST", "/session", headers)
        assert status == 201, body
        return str(json.loads(body)["data"]["id"])
    finally:
        await connection.close()


async def measure_state(url: str, headers: dict[str, str], instants: list[datetime]) -> list[dict[str, float]]:
    """G1: each GET /replay/state, sequentially on one keep-alive connection."""
    connection = await RawHttpConnection.open(url)
    samples = []
    try:
        for at in instants:
            started = time.perf_counter()
            status, body = await connection.request("GET", f"/replay/state?timestamp={stamp(at)}", headers)
            elapsed = ms_since(started)
            assert status == 200, body[:500]
            samples.append({"ms": elapsed, "rows": body.count(b'"entity_id":'), "bytes": len(body)})
    finally:
        await connection.close()
    return samples


async def state_floors(conn: asyncpg.Connection, at: datetime) -> dict[str, float]:
    """F1, F2 and F3 for the rows of the state at ``at``, with the arguments the server uses."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute("SELECT set_config('work_mem', $1, true)", WORK_MEM)
        base = await base_snapshot(conn, TENANT, at)
        arguments = state_arguments(TENANT, at, base, NO_FILTERS)
        copied = 0

        async def sink(data: bytes) -> None:
            nonlocal copied
            copied += len(data)

        started = time.perf_counter()
        await conn.copy_from_query(STATE_AT_SQL, *arguments, output=sink)
        f1 = ms_since(started)
        started = time.perf_counter()
        rows = await conn.fetch(STATE_AT_SQL, *arguments)
        f2 = ms_since(started)
        started = time.perf_counter()
        through_cursor = 0
        async for _ in conn.cursor(STATE_AT_SQL, *arguments, prefetch=20_000):
            through_cursor += 1
        f2_cursor = ms_since(started)
    items = [stored_event(row) for row in rows]
    started = time.perf_counter()
    encoded = msgspec.json.encode(items)
    f3 = ms_since(started)
    return {
        "rows": len(rows),
        "f1_ms": f1,
        "f1_mb": copied / 1e6,
        "f2_fetch_ms": f2,
        "f2_cursor_ms": f2_cursor,
        "f3_encode_ms": f3,
        "encoded_mb": len(encoded) / 1e6,
    }


async def naive_state(conn: asyncpg.Connection, at: datetime) -> dict[str, float]:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute("SELECT set_config('work_mem', $1, true)", WORK_MEM)
        started = time.perf_counter()
        rows = await conn.fetch(_NAIVE_STATE, TENANT, at)
        return {"ms": ms_since(started), "rows": len(rows)}


async def measure_events(
    url: str, headers: dict[str, str], windows: list[tuple[datetime, datetime]]
) -> dict[str, float]:
    """G2: NDJSON event windows, sequentially; events/s over all of them."""
    connection = await RawHttpConnection.open(url)
    ndjson = {**headers, "Accept": "application/x-ndjson"}
    events = 0
    elapsed = 0.0
    try:
        for start, end in windows:
            started = time.perf_counter()
            status, body = await connection.request(
                "GET", f"/replay/events?start={stamp(start)}&end={stamp(end)}", ndjson
            )
            elapsed += time.perf_counter() - started
            assert status == 200, body[:500]
            events += body.count(b"\n")
    finally:
        await connection.close()
    return {"events": events, "seconds": elapsed, "events_per_s": events / elapsed}


async def events_floor(conn: asyncpg.Connection, windows: list[tuple[datetime, datetime]]) -> dict[str, float]:
    """F2 for G2: asyncpg fetch of the same rows with the server's query."""
    events = 0
    elapsed = 0.0
    for start, end in windows:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await conn.execute("SELECT set_config('work_mem', $1, true)", WORK_MEM)
            started = time.perf_counter()
            rows = await conn.fetch(_EVENTS_BETWEEN, TENANT, start, start, _MAX_SEQ, end, None, None, None, None)
            elapsed += time.perf_counter() - started
            events += len(rows)
    return {"events": events, "seconds": elapsed, "events_per_s": events / elapsed}


def ingest_records(tenant: uuid.UUID, end: datetime) -> list[tuple[Any, ...]]:
    spec = DatasetSpec("ingest", 2_000, INGEST_EVENTS, timedelta(hours=6))
    return list(generate(spec, tenant, end, seed=SEED + 1))


def ingest_bodies(records: list[tuple[Any, ...]]) -> list[bytes]:
    bodies = []
    for first in range(0, len(records), INGEST_BATCH):
        parts = []
        for _, at, table, entity, op, state in records[first : first + INGEST_BATCH]:
            parts.append(
                f'{{"entity_id":"{entity}","table_name":"{table}","op":"{op.decode()}",'
                f'"entity_state":{state or "null"},"event_timestamp":"{stamp(at)}"}}'
            )
        bodies.append(("[" + ",".join(parts) + "]").encode())
    return bodies


async def measure_ingest(url: str, headers: dict[str, str], bodies: list[bytes]) -> dict[str, float]:
    """G3: POST /v1/ingest/events, batches of 5,000, on a few connections at once."""
    connections = [await RawHttpConnection.open(url) for _ in range(INGEST_CONNECTIONS)]
    queue = list(reversed(bodies))
    post_headers = {**headers, "Content-Type": "application/json"}

    async def worker(connection: RawHttpConnection) -> int:
        accepted = 0
        while queue:
            body = queue.pop()
            status, answer = await connection.request("POST", "/v1/ingest/events", post_headers, body)
            assert status == 200, answer[:500]
            accepted += json.loads(answer)["data"]["accepted"]
        return accepted

    started = time.perf_counter()
    accepted = sum(await asyncio.gather(*(worker(c) for c in connections)))
    elapsed = time.perf_counter() - started
    for connection in connections:
        await connection.close()
    return {"events": accepted, "seconds": elapsed, "events_per_s": accepted / elapsed}


async def copy_in_floor(conn: asyncpg.Connection, records: list[tuple[Any, ...]]) -> dict[str, float]:
    """F1 COPY-in: the same rows (another tenant) straight into events, one COPY per batch of 5,000."""
    started = time.perf_counter()
    for first in range(0, len(records), INGEST_BATCH):
        await conn.copy_records_to_table(
            "events",
            records=records[first : first + INGEST_BATCH],
            columns=("tenant_id", "event_timestamp", "table_name", "entity_id", "op", "entity_state"),
        )
    elapsed = time.perf_counter() - started
    return {"events": len(records), "seconds": elapsed, "events_per_s": len(records) / elapsed}


async def main() -> None:
    spec = DATASETS[DATASET]
    rng = random.Random(SEED)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - spec.span
    with backends() as services:
        database_url = await fresh_database(services.database_url)
        started = time.perf_counter()
        loaded = await load_bench_data(database_url, spec, TENANT, end, SEED)
        load_s = time.perf_counter() - started
        print(f"loaded {spec.name}: {loaded.events:,} events, {loaded.checkpoints} checkpoints in {load_s:.0f} s")
        await settle_background_jobs(database_url, services.redis_url)
        env = {
            "MSR_DATABASE_URL": database_url,
            "MSR_REDIS_URL": services.redis_url,
            "MSR_REDIS_PREFIX": f"bench{uuid.uuid4().hex[:6]}:",
            "MSR_JWT_SECRET": SECRET,
            "MSR_DB_POOL_MAX": "20",
        }
        # Instants after the first hour (every entity exists by then), uniformly over the span.
        span_us = int((spec.span - timedelta(hours=1)).total_seconds() * 1e6)
        instants = [start + timedelta(hours=1, microseconds=rng.randrange(span_us)) for _ in range(STATE_SAMPLES)]
        hours = [
            start + timedelta(hours=rng.randrange(1, int(spec.span / timedelta(hours=1)))) for _ in range(HOUR_WINDOWS)
        ]
        hour_windows = [(h, h + timedelta(hours=1)) for h in hours]
        days = [
            start + timedelta(hours=rng.randrange(0, int((spec.span - timedelta(days=1)) / timedelta(hours=1))))
            for _ in range(DAY_WINDOWS)
        ]
        day_windows = [(d, d + timedelta(days=1)) for d in days]
        with server_process(env) as url:
            user = {"Authorization": f"Bearer {bench_token('bench-viewer', TENANT)}"}
            headers = {**user, "X-Session-ID": await open_session(url, user)}
            await measure_state(url, headers, instants[:3])  # warm the server's and PostgreSQL's caches
            g1 = await measure_state(url, headers, instants)
            conn = await asyncpg.connect(database_url)
            try:
                await state_floors(conn, instants[0])  # prepares the statements (asyncpg caches them)
                floors = [await state_floors(conn, at) for at in instants[:FLOOR_SAMPLES]]
                # G1 again at the floors' instants, now as warm as the floors were, for the ratio.
                g1_warm = await measure_state(url, headers, instants[:FLOOR_SAMPLES])
                naive = [await naive_state(conn, at) for at in instants[:NAIVE_SAMPLES]]
                g2_hour = await measure_events(url, headers, hour_windows)
                g2_day = await measure_events(url, headers, day_windows)
                await events_floor(conn, hour_windows[:1])  # prepares the statement
                f2_hour = await events_floor(conn, hour_windows)
                f2_day = await events_floor(conn, day_windows)
                ingest_tenant, copy_tenant = uuid.uuid4(), uuid.uuid4()
                records = ingest_records(ingest_tenant, datetime.now(UTC) - timedelta(hours=1))
                bodies = ingest_bodies(records)
                ingest_headers = {"Authorization": f"Bearer {bench_token('bench-ingest', ingest_tenant)}"}
                g3 = await measure_ingest(url, ingest_headers, bodies)
                f1_in = await copy_in_floor(conn, [(copy_tenant, *r[1:]) for r in records])
            finally:
                await conn.close()
        await drop_database(services.database_url, database_url)
    report(spec, load_s, g1, g1_warm, floors, naive, g2_hour, g2_day, f2_hour, f2_day, g3, f1_in)


def report(spec, load_s, g1, g1_warm, floors, naive, g2_hour, g2_day, f2_hour, f2_day, g3, f1_in) -> None:
    g1_ms = [s["ms"] for s in g1]
    g1_p50, g1_p99 = percentile(g1_ms, 0.5), percentile(g1_ms, 0.99)
    # The same instants and cache state for the floor ratio: G1 measured again after the floors, at their instants.
    g1_at_floors = median([s["ms"] for s in g1_warm])
    f1 = median([f["f1_ms"] for f in floors])
    f2 = median([min(f["f2_fetch_ms"], f["f2_cursor_ms"]) for f in floors])
    f3 = median([f["f3_encode_ms"] for f in floors])
    floor_ratio = g1_at_floors / max(f1, f2)
    sum_ratio = g1_at_floors / (f1 + f2)
    naive_ms = median([n["ms"] for n in naive])
    # Both medians are over instants drawn alike (the baseline's are G1's first ones): the baseline is too slow
    # for 40 samples, and five of G1's are too few to judge on, the machine being shared.
    speedup = naive_ms / g1_p50
    speedup_same_instants = naive_ms / median([s["ms"] for s in g1[: len(naive)]])
    rows = median([s["rows"] for s in g1])
    assert [s["rows"] for s in g1[: len(floors)]] == [f["rows"] for f in floors], "G1 and the floors disagree"
    assert [n["rows"] for n in naive] == [s["rows"] for s in g1[: len(naive)]], "G1 and the baseline disagree"
    g2_hour_ratio = g2_hour["events_per_s"] / f2_hour["events_per_s"]
    g2_day_ratio = g2_day["events_per_s"] / f2_day["events_per_s"]
    g3_ratio = g3["events_per_s"] / f1_in["events_per_s"]
    figures = {
        "dataset": {"name": spec.name, "entities": spec.entities, "events": spec.events, "load_s": load_s},
        "G1": {"p50_ms": g1_p50, "p99_ms": g1_p99, "rows_p50": rows, "samples": g1},
        "G1_warm_at_floor_instants": {"p50_ms": g1_at_floors, "samples": g1_warm},
        "G1_floors": {"F1_copy_ms": f1, "F2_fetch_ms": f2, "F3_encode_ms": f3, "samples": floors},
        "G1_ratio_to_floor": floor_ratio,
        "G1_ratio_to_F1_plus_F2": sum_ratio,
        "naive": {"p50_ms": naive_ms, "samples": naive},
        "G1_speedup_over_naive": speedup,
        "G1_speedup_over_naive_same_instants": speedup_same_instants,
        "G2_hour": g2_hour,
        "G2_day": g2_day,
        "F2_hour": f2_hour,
        "F2_day": f2_day,
        "G2_hour_ratio_to_F2": g2_hour_ratio,
        "G2_day_ratio_to_F2": g2_day_ratio,
        "G3": g3,
        "F1_copy_in": f1_in,
        "G3_ratio_to_F1": g3_ratio,
    }
    state_goal = "p50 <= 50 ms" if spec.name != "L" else "p50 <= 200 ms, p99 <= 400 ms"
    write_result(
        "store" if spec.name == "M" else f"store_{spec.name}",
        figures,
        [
            (f"data set {spec.name} load (COPY + hourly checkpoints)", f"{load_s:.0f} s", "-"),
            (f"G1 GET /replay/state p50 / p99 ({rows:,.0f} rows)", f"{g1_p50:.1f} / {g1_p99:.1f} ms", state_goal),
            ("G1 again at the floors' instants, as warm as they were, p50", f"{g1_at_floors:.1f} ms", "-"),
            ("F1 COPY TO of the same rows", f"{f1:.1f} ms", "floor"),
            ("F2 asyncpg fetch of the same rows", f"{f2:.1f} ms", "floor"),
            ("F3 msgspec encode of the same rows", f"{f3:.1f} ms", "floor"),
            ("G1 ratio to max(F1, F2) / to F1+F2", f"{floor_ratio:.2f}x / {sum_ratio:.2f}x", "<= 2x"),
            ("naive DISTINCT ON baseline p50", f"{naive_ms:,.0f} ms", "-"),
            (
                "G1 speed-up over the baseline, p50 / at the baseline's instants",
                f"{speedup:.0f}x / {speedup_same_instants:.0f}x",
                ">= 20x",
            ),
            ("G2 events NDJSON, 1-hour windows", f"{g2_hour['events_per_s']:,.0f} events/s", ">= 250k/s"),
            ("G2 events NDJSON, 1-day windows", f"{g2_day['events_per_s']:,.0f} events/s", ">= 250k/s"),
            (
                "F2 asyncpg fetch, 1 h / 1 d",
                f"{f2_hour['events_per_s']:,.0f} / {f2_day['events_per_s']:,.0f} /s",
                "floor",
            ),
            ("G2 ratio to F2, 1 h / 1 d", f"{g2_hour_ratio:.2f}x / {g2_day_ratio:.2f}x", ">= 0.5x"),
            ("G3 ingest API, batches of 5,000", f"{g3['events_per_s']:,.0f} events/s", ">= 50k/s"),
            ("F1 COPY-in of the same rows", f"{f1_in['events_per_s']:,.0f} events/s", "floor"),
            ("G3 ratio to F1 COPY-in", f"{g3_ratio:.2f}x", ">= 0.3x"),
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
