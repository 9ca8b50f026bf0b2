"""``msr demo`` loads the demo data into an empty database only; ``msr bench-data`` loads a BENCH.md data set."""

import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from app.demo import DEMO_TENANT
from store.datasets import DATASETS, DEMO
from tests.test_cli import clean_env, msr


async def counts(database_url: str) -> dict[uuid.UUID, tuple[int, datetime, datetime]]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT tenant_id, count(*), min(event_timestamp), max(event_timestamp) FROM events GROUP BY tenant_id"
        )
    finally:
        await conn.close()
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


def run(database_url: str, tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(MSR_DATA_DIR=str(tmp_path), MSR_DATABASE_URL=database_url)
    return subprocess.run(msr(*args), env=env, capture_output=True, text=True, timeout=300, check=False)


async def test_demo_loads_three_days_ending_now_once_and_then_leaves_the_database_alone(database_url, tmp_path):
    started = datetime.now(UTC)
    first = run(database_url, tmp_path, "demo")
    assert first.returncode == 0, first.stderr
    assert f"loaded demo data for tenant {DEMO_TENANT}" in first.stderr
    loaded = await counts(database_url)
    assert set(loaded) == {DEMO_TENANT}
    count, oldest, newest = loaded[DEMO_TENANT]
    assert count == DEMO.events
    assert started - timedelta(days=3) - timedelta(minutes=1) <= oldest
    assert newest <= datetime.now(UTC)
    assert newest >= started - timedelta(minutes=5)
    again = run(database_url, tmp_path, "demo")
    assert again.returncode == 0, again.stderr
    assert "demo data not loaded: the database has events already" in again.stderr
    assert await counts(database_url) == loaded


async def test_bench_data_loads_the_data_set_for_the_tenant_and_refuses_a_second_load(database_url, tmp_path):
    tenant = uuid.uuid4()
    end = "2026-06-01T12:00:00Z"
    first = run(database_url, tmp_path, "bench-data", "S", "--tenant", str(tenant), "--end", end)
    assert first.returncode == 0, first.stderr
    assert "loaded data set S" in first.stdout
    count, oldest, newest = (await counts(database_url))[tenant]
    assert count == DATASETS["S"].events
    assert datetime(2026, 5, 30, 12, tzinfo=UTC) < oldest
    assert newest <= datetime(2026, 6, 1, 12, tzinfo=UTC)
    again = run(database_url, tmp_path, "bench-data", "S", "--tenant", str(tenant), "--end", end)
    assert again.returncode == 1
    assert "has events already" in again.stderr
    bad = run(database_url, tmp_path, "bench-data", "S", "--end", "yesterday")
    assert bad.returncode == 2
    assert "--end" in bad.stderr
