"""G8: POST /session + POST /session/{id}/terminate throughput and p99 at 64 concurrent, and a 500-concurrent burst
that must admit no more than the limit. Floors in the same run: F5 (EVALSHA of the admission script) and F7
(Litestar hello-world under the same uvicorn settings, same load generator)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from importlib import resources

import httpx
import redis.asyncio as aioredis

from bench.common import SECRET, backends, bench_token, fresh_database, percentile, server_process, write_result
from bench.http import RawHttpConnection

WORKERS = 64
DURATION_S = 10.0
BURST = 500
BURST_LIMIT = 50
TENANT = uuid.UUID(int=8)


async def floor_redis(redis_url: str) -> dict[str, float]:
    """F5: round trip of one EVALSHA of our admission script (admitting into a scratch set)."""
    client = aioredis.Redis.from_url(redis_url)
    script = client.register_script(resources.files("app.coordination").joinpath("lua", "admit.lua").read_text())
    keys = [f"bench:{uuid.uuid4().hex}:active", f"bench:{uuid.uuid4().hex}:synced"]
    run_id = (await client.info("server"))["run_id"]
    await client.set(keys[1], run_id)
    timings = []
    for i in range(3000):
        started = time.perf_counter()
        await script(keys=keys, args=[i, f"s{i}", 10**9])
        timings.append((time.perf_counter() - started) * 1000)
    await client.delete(*keys)
    await client.aclose()
    return {"p50_ms": percentile(timings, 0.5), "p99_ms": percentile(timings, 0.99)}


async def _connections(url: str) -> list[RawHttpConnection]:
    return [await RawHttpConnection.open(url) for _ in range(WORKERS)]


async def floor_http(url: str) -> float:
    """F7: hello-world requests/s with the same client and concurrency."""
    connections = await _connections(url)

    async def worker(connection: RawHttpConnection, stop_at: float) -> int:
        done = 0
        while time.perf_counter() < stop_at:
            status, _ = await connection.request("GET", "/hello")
            assert status == 200
            done += 1
        return done

    started = time.perf_counter()
    counts = await asyncio.gather(*(worker(c, started + DURATION_S / 2) for c in connections))
    elapsed = time.perf_counter() - started
    for connection in connections:
        await connection.close()
    return sum(counts) / elapsed


async def measure_sessions(url: str) -> dict[str, float]:
    admin = {"Authorization": f"Bearer {bench_token('bench-admin', TENANT, admin=True)}"}
    users = [{"Authorization": f"Bearer {bench_token(f'bench-user-{i}', TENANT)}"} for i in range(WORKERS)]
    create_ms: list[float] = []
    connections = await _connections(url)

    async def worker(index: int, stop_at: float) -> int:
        connection, headers = connections[index], users[index]
        done = 0
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            status, body = await connection.request("POST", "/session", headers)
            create_ms.append((time.perf_counter() - started) * 1000)
            assert status == 201, body
            session_id = json.loads(body)["data"]["id"]
            status, body = await connection.request("POST", f"/session/{session_id}/terminate", headers)
            assert status == 204, body
            done += 1
        return done

    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=WORKERS * 2)) as client:
        (await client.put("/admin/settings", json={"max_active_sessions": 10_000}, headers=admin)).raise_for_status()
        await asyncio.sleep(0.6)
        started = time.perf_counter()
        counts = await asyncio.gather(*(worker(i, started + DURATION_S) for i in range(WORKERS)))
        elapsed = time.perf_counter() - started
        done = sum(counts)
        for connection in connections:
            await connection.close()

        await client.put("/admin/settings", json={"max_active_sessions": BURST_LIMIT}, headers=admin)
        await asyncio.sleep(0.6)  # let the settings poll of the server see the new limit
        burst = await asyncio.gather(*(client.post("/session", headers=users[i % WORKERS]) for i in range(BURST)))
        admitted = sum(r.status_code == 201 for r in burst)
        active = (await client.get("/admin/sessions/status", headers=admin)).json()["data"]["active_sessions"]
    return {
        "creates_per_s": done / elapsed,
        "create_p50_ms": percentile(create_ms, 0.5),
        "create_p99_ms": percentile(create_ms, 0.99),
        "burst_admitted": admitted,
        "burst_active_after": active,
        "burst_limit_violations": max(0, active - BURST_LIMIT),
        "burst_unexpected_statuses": sum(r.status_code not in (201, 429) for r in burst),
    }


async def main() -> None:
    with backends() as services:
        database_url = await fresh_database(services.database_url)
        f5 = await floor_redis(services.redis_url)
        with server_process({}, [sys.executable, "-m", "bench.hello_app"]) as hello_url:
            f7 = await floor_http(hello_url)
        env = {
            "MSR_DATABASE_URL": database_url,
            "MSR_REDIS_URL": services.redis_url,
            "MSR_REDIS_PREFIX": f"bench{uuid.uuid4().hex[:6]}:",
            "MSR_JWT_SECRET": SECRET,
            "MSR_DB_POOL_MAX": "20",
        }
        with server_process(env) as url:
            g8 = await measure_sessions(url)
    ratio = g8["creates_per_s"] / f7
    figures = {"F5_evalsha": f5, "F7_hello_rps": f7, "G8": g8, "G8_ratio_to_F7": ratio}
    write_result(
        "sessions",
        figures,
        [
            ("F5 EVALSHA admit p50 / p99", f"{f5['p50_ms']:.3f} / {f5['p99_ms']:.3f} ms", "floor"),
            ("F7 hello-world", f"{f7:,.0f} req/s", "floor"),
            ("G8 create+terminate", f"{g8['creates_per_s']:,.0f} creates/s", ">= 1,000/s"),
            ("G8 create p50 / p99", f"{g8['create_p50_ms']:.1f} / {g8['create_p99_ms']:.1f} ms", "p99 <= 25 ms"),
            ("G8 ratio to F7", f"{ratio:.2f}x", ">= 0.15x"),
            (
                f"G8 burst of {BURST} at limit {BURST_LIMIT}",
                f"{g8['burst_admitted']} admitted, {g8['burst_limit_violations']} violations",
                "0 violations",
            ),
        ],
    )


if __name__ == "__main__":
    asyncio.run(main())
