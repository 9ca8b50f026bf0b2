"""The jobs API of the operators (SPEC 7, seed 002): listing with paging and filters, one job, cancellation, and who
may reach which job."""

import uuid

import pytest

from store.jobs import JobCancelledError, JobRepository, JobStatus
from store.pool import Database, PoolConfig
from tests.support import bearer, make_token

TENANT = uuid.UUID(int=1101)
OTHER = uuid.UUID(int=1102)
ADMIN = bearer(make_token("ops", TENANT, admin=True))
OTHER_ADMIN = bearer(make_token("ops-2", OTHER, admin=True))
GLOBAL = bearer(make_token("root", OTHER, admin=True, roles=["admin", "msr-global-admin"]))
USER = bearer(make_token("user-1", TENANT))


@pytest.fixture
async def jobs(settings):
    db = Database(PoolConfig(dsn=settings.database_url, min_size=1, max_size=2))
    await db.open()
    yield JobRepository(db)
    await db.close()


@pytest.fixture
async def seven(server, jobs):
    """Five jobs of TENANT (two of kind 'export'), one deployment-wide retention job, one of OTHER; oldest first."""
    made = [await jobs.create("rollup_refresh" if i % 2 else "export", tenant_id=TENANT) for i in range(5)]
    made.append(await jobs.create("retention"))
    made.append(await jobs.create("export", tenant_id=OTHER))
    return made


async def test_pages_newest_first_with_the_page_object(server, seven):
    mine = [str(job.id) for job in reversed(seven[:6])]
    async with server.client() as client:
        pages = [await client.get("/admin/jobs", params={"limit": 4, "page": n}, headers=ADMIN) for n in (1, 2, 3)]
    assert [p.status_code for p in pages] == [200, 200, 200]
    assert [job["id"] for p in pages for job in p.json()["data"]] == mine
    assert pages[0].json()["page"] == {"number": 1, "size": 4, "total_records": 6, "count": 4}
    assert pages[2].json()["data"] == []
    first = pages[0].json()["data"][0]
    assert first["kind"] == "retention"
    assert first["tenant_id"] is None
    assert first["progress"] == {"done": None, "total": None, "fraction": 0.0}
    assert set(first) >= {"status", "created_by", "created_at", "started_at", "ended_at", "error", "result"}


async def test_filters_by_kind_and_status(server, seven, jobs):
    await jobs.start(seven[0].id)
    async with server.client() as client:
        exports = await client.get("/admin/jobs", params={"kind": "export"}, headers=ADMIN)
        running = await client.get("/admin/jobs", params={"status": "running"}, headers=ADMIN)
        both = await client.get("/admin/jobs", params={"kind": "export", "status": "scheduled"}, headers=ADMIN)
    assert {job["id"] for job in exports.json()["data"]} == {str(seven[i].id) for i in (0, 2, 4)}
    assert [job["id"] for job in running.json()["data"]] == [str(seven[0].id)]
    assert both.json()["page"]["total_records"] == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"page": "0"}, "page"),
        ({"status": "done"}, "status"),
        ({"kind": "k" * 65}, "kind"),
        ({"tenant_id": "nope"}, "tenant_id"),
    ],
)
async def test_bad_parameters_are_400_naming_the_field(server, params, field):
    async with server.client() as client:
        answer = await client.get("/admin/jobs", params=params, headers=ADMIN)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
    assert answer.json()["error"]["details"]["field"] == field


async def test_one_job_and_the_tenancy_rules(server, seven):
    mine, deployment, theirs = seven[0].id, seven[5].id, seven[6].id
    async with server.client() as client:
        got = await client.get(f"/admin/jobs/{mine}", headers=ADMIN)
        shared = await client.get(f"/admin/jobs/{deployment}", headers=ADMIN)
        hidden = await client.get(f"/admin/jobs/{theirs}", headers=ADMIN)
        by_global = await client.get(f"/admin/jobs/{mine}", headers=GLOBAL)
        by_user = await client.get(f"/admin/jobs/{mine}", headers=USER)
        listed_by_user = await client.get("/admin/jobs", headers=USER)
        unknown = await client.get(f"/admin/jobs/{uuid.uuid4()}", headers=ADMIN)
        malformed = await client.get("/admin/jobs/nope", headers=ADMIN)
        other_tenant_list = await client.get("/admin/jobs", params={"tenant_id": str(OTHER)}, headers=ADMIN)
        global_list = await client.get("/admin/jobs", params={"tenant_id": str(TENANT)}, headers=GLOBAL)
        everything = await client.get("/admin/jobs", headers=GLOBAL)
        anonymous = await client.get("/admin/jobs")
    assert got.status_code == 200
    assert got.json()["data"]["id"] == str(mine)
    assert shared.status_code == 200
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "NOT_FOUND"
    assert by_global.status_code == 200
    assert by_user.status_code == 403
    assert listed_by_user.status_code == 403
    assert unknown.status_code == 404
    assert malformed.status_code == 400
    assert malformed.json()["error"]["details"]["field"] == "job_id"
    assert other_tenant_list.status_code == 403
    assert global_list.json()["page"]["total_records"] == 5
    assert everything.json()["page"]["total_records"] == 7
    assert anonymous.status_code == 401


async def test_cancel_a_scheduled_job_at_once_and_a_finished_one_is_409(server, seven, jobs):
    scheduled, done = seven[1].id, seven[2].id
    await jobs.start(done)
    await jobs.complete(done, {"ok": True})
    async with server.client() as client:
        cancelled = await client.delete(f"/admin/jobs/{scheduled}", headers=ADMIN)
        again = await client.delete(f"/admin/jobs/{scheduled}", headers=ADMIN)
        finished = await client.delete(f"/admin/jobs/{done}", headers=ADMIN)
        theirs = await client.delete(f"/admin/jobs/{seven[6].id}", headers=ADMIN)
        deployment = await client.delete(f"/admin/jobs/{seven[5].id}", headers=ADMIN)
        by_user = await client.delete(f"/admin/jobs/{seven[3].id}", headers=USER)
    assert cancelled.status_code == 200
    assert cancelled.json()["data"]["status"] == "cancelled"
    assert cancelled.json()["data"]["ended_at"]
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "CONFLICT"
    assert finished.status_code == 409
    assert finished.json()["error"]["details"]["status"] == "completed"
    assert theirs.status_code == 404
    assert deployment.status_code == 403
    assert by_user.status_code == 403
    assert (await jobs.get(seven[3].id)).status == JobStatus.SCHEDULED
    assert (await jobs.get(seven[5].id)).status == JobStatus.SCHEDULED


async def test_cancel_a_running_job_stops_it_at_its_next_step(server, seven, jobs):
    job = seven[6]
    await jobs.start(job.id)
    await jobs.report_progress(job.id, 0.25, done=1, total=4)
    async with server.client() as client:
        asked = await client.delete(f"/admin/jobs/{job.id}", headers=OTHER_ADMIN)
    assert asked.status_code == 202
    body = asked.json()["data"]
    assert body["status"] == "running"
    assert body["cancel_requested"] is True
    assert body["progress"] == {"done": 1, "total": 4, "fraction": 0.25}
    with pytest.raises(JobCancelledError):
        await jobs.report_progress(job.id, 0.5, done=2)
    await jobs.mark_cancelled(job.id)
    async with server.client() as client:
        ended = await client.get(f"/admin/jobs/{job.id}", headers=OTHER_ADMIN)
    assert ended.json()["data"]["status"] == "cancelled"


OPERATIONS = {
    ("/admin/jobs", "get"): ({"limit", "page", "kind", "status", "tenant_id"}, {"200", "400", "401", "403", "503"}),
    ("/admin/jobs/{job_id}", "get"): ({"job_id"}, {"200", "400", "401", "403", "404", "503"}),
    ("/admin/jobs/{job_id}", "delete"): ({"job_id"}, {"200", "202", "400", "401", "403", "404", "409", "503"}),
    ("/admin/users/{user_id}", "delete"): ({"user_id", "tenant_id"}, {"202", "400", "401", "403", "503"}),
    ("/admin/users/{user_id}/sessions", "get"): (
        {"user_id", "start", "end", "page", "size", "sort", "tenant_id"},
        {"200", "400", "401", "403", "503"},
    ),
    ("/admin/sessions/{session_id}/events", "get"): (
        {"session_id", "type", "start", "end", "page", "size"},
        {"200", "400", "401", "403", "404", "503"},
    ),
    ("/admin/sessions/live", "get"): ({"tenant_id"}, {"200", "400", "401", "403", "503"}),
}


async def test_the_schema_describes_every_operator_operation(server):
    async with server.client() as client:
        schema = (await client.get("/schema")).json()
    for (path, method), (parameters, statuses) in OPERATIONS.items():
        operation = schema["paths"][path][method]
        assert {p["name"] for p in operation.get("parameters", [])} == parameters, path
        # Every operation also documents 431 and 500 (app.openapi_docs adds them to all).
        assert set(operation["responses"]) == statuses | {"431", "500"}, (path, method)
        for status, response in operation["responses"].items():
            assert response["content"]["application/json"]["schema"], (path, method, status)
    error = schema["paths"]["/admin/jobs/{job_id}"]["delete"]["responses"]["409"]
    assert "ErrorEnvelope" in str(error)
