"""``msr capture add | list | remove`` against a real source database."""

import asyncio
import subprocess
import uuid

import asyncpg

from app.embedded import EmbeddedPostgres
from tests.test_cli import clean_env, msr

TENANT = str(uuid.UUID(int=78))


async def run(database_url, tmp_path, *args):
    env = clean_env(MSR_DATA_DIR=str(tmp_path), MSR_DATABASE_URL=database_url)
    return await asyncio.to_thread(
        subprocess.run, msr("capture", *args), env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def triggers(source_url):
    conn = await asyncpg.connect(source_url)
    try:
        rows = await conn.fetch(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.vehicles'::regclass AND NOT tgisinternal ORDER BY 1"
        )
    finally:
        await conn.close()
    return [row["tgname"] for row in rows]


async def test_add_list_and_remove_a_captured_table(database_url, source_url, tmp_path):
    source = ["--source-url", source_url, "--tenant", TENANT]
    added = await run(database_url, tmp_path, "add", "public.vehicles", "--key", "id", *source)
    assert added.returncode == 0, added.stderr
    assert "capturing public.vehicles (key id)" in added.stdout
    name = f"msr_capture_{uuid.UUID(TENANT).hex}"
    assert await triggers(source_url) == [name, f"{name}_t"]

    listed = await run(database_url, tmp_path, "list")
    assert f"{TENANT}  public.vehicles  key=id  source={source_url}" in listed.stdout

    nullable = await run(database_url, tmp_path, "add", "public.vehicles", "--key", "speed", *source)
    assert nullable.returncode == 1
    assert "must be NOT NULL" in nullable.stderr
    bad_tenant = await run(database_url, tmp_path, "add", "public.vehicles", "--key", "id", "--tenant", "x")
    assert bad_tenant.returncode == 2

    removed = await run(database_url, tmp_path, "remove", "public.vehicles", *source)
    assert removed.returncode == 0, removed.stderr
    assert await triggers(source_url) == []
    assert "public.vehicles" not in (await run(database_url, tmp_path, "list")).stdout
    again = await run(database_url, tmp_path, "remove", "public.vehicles", *source)
    assert again.returncode == 1


async def test_with_the_embedded_database_of_a_running_server_it_leaves_that_database_running(tmp_path):
    postgres = EmbeddedPostgres(tmp_path)
    url = await asyncio.to_thread(postgres.start)
    try:
        env = clean_env(MSR_DATA_DIR=str(tmp_path))
        listed = await asyncio.to_thread(
            subprocess.run, msr("capture", "list"), env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert listed.returncode == 0, listed.stderr
        conn = await asyncpg.connect(url)  # still up for the server that uses it
        await conn.close()
    finally:
        await asyncio.to_thread(postgres.stop)
