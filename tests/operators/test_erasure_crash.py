"""Erasure survives its replica: a real ``msr serve`` killed with SIGKILL in the middle of an erasure job, another
replica resumes the job and finishes it exactly once (counts exact, nothing left, one job)."""

import asyncio
import signal

import asyncpg
import httpx

from tests.live.support import TENANT
from tests.live.test_failover import ready, replica
from tests.operators.test_erasure import counts, finished
from tests.support import bearer, make_token

ADMIN = bearer(make_token("ops", TENANT, admin=True))
LEAVING = bearer(make_token("leaving", TENANT))
JOB_LEASE = {"MSR_JOB_LEASE_S": "1.5"}


async def test_a_killed_replicas_erasure_is_finished_by_another_exactly_once(settings, tmp_path):
    dsn = settings.database_url
    with replica(settings, tmp_path, "a", JOB_LEASE) as (a_process, a_url, a_log):
        await ready(a_process, a_url, a_log)
        async with httpx.AsyncClient(base_url=a_url, timeout=30) as a:
            for _ in range(4):
                session_id = (await a.post("/session", headers=LEAVING)).json()["data"]["id"]
                assert (await a.post(f"/session/{session_id}/terminate", headers=LEAVING)).status_code == 204
            before = await counts(dsn, "leaving")
            assert before["sessions"] == 4
            assert before["activity"] == 8
            # Hold the third session (in erasure order) so the job stops there, mid-way, on replica A.
            holder = await asyncpg.connect(dsn)
            hold = holder.transaction()
            await hold.start()
            third = await holder.fetchval(
                "SELECT id FROM sessions WHERE user_id = 'leaving' ORDER BY id OFFSET 2 LIMIT 1"
            )
            await holder.execute("SELECT id FROM sessions WHERE id = $1 FOR UPDATE", third)
            answer = await a.delete("/admin/users/leaving", headers=ADMIN)
            assert answer.status_code == 202, answer.text
            job_id = answer.json()["data"]["id"]
            async with asyncio.timeout(30):
                while (await a.get(f"/admin/jobs/{job_id}", headers=ADMIN)).json()["data"]["progress"]["done"] != 2:
                    await asyncio.sleep(0.05)
        with replica(settings, tmp_path, "b", JOB_LEASE) as (b_process, b_url, b_log):
            await ready(b_process, b_url, b_log)
            a_process.send_signal(signal.SIGKILL)
            assert a_process.wait(timeout=30) == -signal.SIGKILL
            await hold.rollback()
            await holder.close()
            async with httpx.AsyncClient(base_url=b_url, timeout=30) as b:
                job = await finished(b, job_id, timeout_s=60)
                listed = (await b.get("/admin/jobs", params={"kind": "user_erasure"}, headers=ADMIN)).json()
    assert job["status"] == "completed", (job, b_log.read_text(errors="replace")[-3000:])
    assert job["result"] == {"sessions": 4, "activity_entries": 8, "attributions": 0}
    assert job["progress"] == {"done": 4, "total": 4, "fraction": 1.0}
    assert listed["page"]["total_records"] == 1
    assert await counts(dsn, "leaving") == {"sessions": 0, "activity": 0, "attributions": 0, "events": 0}
