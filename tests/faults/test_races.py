"""Races that clients cause on purpose or by accident, across replicas: one winner for one ``occ_lock`` (R9), and
a session limit that stays exact under a burst of creates spread over three replicas (R3). The 2,000-create burst
is a heavy variant (``make test-faults``); the default suite races 300 the same way."""

import asyncio
import time
import uuid

import httpx
import pytest

from tests.support import bearer, make_token

TENANT = uuid.UUID(int=14)
ADMIN = bearer(make_token("boss", TENANT, admin=True))


async def test_100_concurrent_writes_with_one_occ_lock_have_exactly_one_winner(settings, start_server, figure):
    async with start_server(settings) as a, start_server(settings) as b, a.client() as ca, b.client() as cb:
        owner = bearer(make_token("owner", TENANT))
        session = (await ca.post("/session", headers=owner)).json()["data"]
        assert session["occ_lock"] == 0

        async def terminate(i: int) -> httpx.Response:
            client, path = (ca, cb)[i % 2], f"/session/{session['id']}/terminate"
            if i % 2:
                return await client.post(path, params={"occ_lock": 0}, headers=owner)
            return await client.post(path, headers={**owner, "If-Match": "0"})

        answers = await asyncio.gather(*(terminate(i) for i in range(100)))
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [204] + [409] * 99, codes
        assert {answer.json()["error"]["code"] for answer in answers if answer.status_code == 409} == {"CONFLICT"}
        listed = await ca.get("/admin/sessions", params={"user_id": "owner"}, headers=ADMIN)
        [row] = listed.json()["data"]
        assert (row["status"], row["occ_lock"]) == ("INACTIVE", 1), "one write changed the row, once"

        # Then deletes with the new occ_lock: one removes the row, the others find it gone.
        deletes = await asyncio.gather(
            *(
                (ca, cb)[i % 2].delete(f"/session/{session['id']}", params={"occ_lock": 1}, headers=owner)
                for i in range(50)
            )
        )
        assert sorted(answer.status_code for answer in deletes) == [204] + [404] * 49
    figure("R9: 100 concurrent terminates with occ_lock 0 on two replicas: 1 winner, 99 CONFLICT; 50 deletes: 1 winner")


@pytest.mark.parametrize("creates", [300, pytest.param(2000, marks=pytest.mark.faults)])
async def test_concurrent_creates_on_three_replicas_admit_exactly_the_limit(creates, settings, start_server, figure):
    # The three replicas and the clients share this process and its two cores: 200 requests in flight at a time
    # (about 67 per replica, each with a pool of 5 connections) still race for every slot, without making the
    # clients themselves time out.
    limit, in_flight = 25, asyncio.Semaphore(200)
    unbounded = httpx.Timeout(60, pool=None)
    async with (
        start_server(settings) as a,
        start_server(settings) as b,
        start_server(settings) as c,
        httpx.AsyncClient(base_url=a.url, timeout=unbounded) as ca,
        httpx.AsyncClient(base_url=b.url, timeout=unbounded) as cb,
        httpx.AsyncClient(base_url=c.url, timeout=unbounded) as cc,
    ):
        assert (await ca.put("/admin/settings", json={"max_active_sessions": limit}, headers=ADMIN)).status_code == 200
        clients = (ca, cb, cc)

        async def create(i: int) -> int:
            async with in_flight:
                answer = await clients[i % 3].post("/session", headers=bearer(make_token(f"burst-{i}", TENANT)))
            return answer.status_code

        began = time.monotonic()
        codes = await asyncio.gather(*(create(i) for i in range(creates)))
        took_s = time.monotonic() - began
        assert sorted(codes) == [201] * limit + [429] * (creates - limit)
        for client in clients:
            status = await client.get("/admin/sessions/status", headers=ADMIN)
            assert status.json()["data"]["active_sessions"] == limit
    figure(
        f"R3: {creates} concurrent creates on three replicas, limit {limit}: {limit} admitted, "
        f"{creates - limit} refused 429, active {limit} on every replica ({took_s:.1f} s)"
    )
