"""Every JSON success answer of the API matches its model in the OpenAPI document, checked on real answers.

The contract test's fuzzing rarely gets a success out of the operations that need state (a replay to control, a
session to read in, a job to cancel); this tour gets one from each, on a real server in development mode, and
checks every answer with schemathesis' response conformance. An operation with a JSON success answer that the tour
does not visit fails it too, so a new route gets its step.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import schemathesis

from app.settings import Settings
from store.jobs import JobRepository
from store.pool import Database, PoolConfig
from tests.api.events import event
from tests.support import bearer, make_token, serve

TENANT = uuid.UUID(int=1401)
ADMIN = bearer(make_token("tour-admin", TENANT, admin=True))


def _instant(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _json_successes(document: dict[str, Any]) -> set[tuple[str, str, int]]:
    """Each operation and success status whose answer is a JSON body: ``(METHOD, path template, status)``."""
    return {
        (method.upper(), path, int(status))
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for status, answer in operation.get("responses", {}).items()
        if status.startswith("2") and "application/json" in answer.get("content", {})
    }


class Tour:
    """Sends requests and checks each success answer against the document's model of it."""

    def __init__(self, client: httpx.AsyncClient, document: dict[str, Any]) -> None:
        self.client = client
        self.schema = schemathesis.openapi.from_dict(document)
        self.visited: set[tuple[str, str, int]] = set()

    async def send(
        self, method: str, template: str, status: int, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        """Send ``method`` to ``template`` (its ``{name}`` filled from ``path``); expect ``status``; the body's data."""
        path = template.format(**kwargs.pop("path", {}))
        response = await self.client.request(method, path, headers=headers or ADMIN, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        self.schema[template][method].validate_response(response)
        self.visited.add((method, template, status))
        return response.json()["data"]


async def _replay_steps(tour: Tour, start: datetime) -> None:
    """Record and replay: every command's answer, with a loop and a pending pause set, then reset."""
    window = {
        "replay_requested_timestamp": _instant(start),
        "replay_end_timestamp": _instant(start + timedelta(seconds=60)),
    }
    replay = await tour.send("POST", "/v1/replay/init", 201, json=window)
    at = {"replay_id": replay["id"]}
    await tour.send("GET", "/v1/replay/current-session", 200)
    await tour.send("PUT", "/v1/replay/{replay_id}/start", 200, path=at, json={"replay_speed": 0.5})
    loop = {"from": _instant(start + timedelta(seconds=1)), "to": _instant(start + timedelta(seconds=50))}
    looped = await tour.send("PUT", "/v1/replay/{replay_id}/loop", 200, path=at, json=loop)
    assert "replay_loop" in looped
    paused = await tour.send(
        "PUT", "/v1/replay/{replay_id}/until", 200, path=at, json={"at": _instant(start + timedelta(seconds=40))}
    )
    assert "replay_until" in paused
    await tour.send("GET", "/admin/sessions/live", 200)
    await tour.send("PUT", "/v1/replay/{replay_id}/step", 200, path=at, json={"by": "event"})
    await tour.send("PUT", "/v1/replay/{replay_id}/stop", 200, path=at)
    await tour.send("PUT", "/v1/replay/{replay_id}/end", 200, path=at, json={})
    await tour.send("POST", "/v1/replay/init", 201, json=window)
    await tour.send("POST", "/v1/replay/reset", 200, json={})


async def _job_steps(tour: Tour, settings: Settings) -> None:
    """The operator API of jobs and users: a job no runner takes (so it is still scheduled when cancelled)."""
    database = Database(PoolConfig(dsn=settings.database_url, min_size=1, max_size=2))
    await database.open()
    try:
        jobs = JobRepository(database)
        scheduled = await jobs.create("tour", tenant_id=TENANT)
        running = await jobs.create("tour", tenant_id=TENANT)
        await jobs.start(running.id)
    finally:
        await database.close()
    await tour.send("GET", "/admin/jobs", 200)
    await tour.send("GET", "/admin/jobs/{job_id}", 200, path={"job_id": scheduled.id})
    await tour.send("DELETE", "/admin/jobs/{job_id}", 200, path={"job_id": scheduled.id})
    await tour.send("DELETE", "/admin/jobs/{job_id}", 202, path={"job_id": running.id})
    await tour.send("GET", "/admin/users/{user_id}/sessions", 200, path={"user_id": "tour-admin"})
    await tour.send("DELETE", "/admin/users/{user_id}", 202, path={"user_id": "someone-gone"})


async def test_every_json_success_answer_matches_its_model(settings: Settings) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(hours=1)
    events = [event(i, event_timestamp=_instant(start + timedelta(seconds=i * 20))) for i in range(5)]
    debezium = {
        "before": None,
        "after": {"id": 7, "name": "bus 7"},
        "source": {"connector": "postgresql", "ts_ms": int((start + timedelta(seconds=30)).timestamp() * 1000)}
        | {"db": "ops", "schema": "public", "table": "buses", "lsn": 1, "txId": 1},
        "op": "c",
    }
    async with serve(settings.replace(dev_mode=True)) as running, running.client() as client:
        document = (await client.get("/schema/openapi.json")).json()
        tour = Tour(client, document)
        for path in ("/health", "/readiness", "/ui/config", "/ui/dev-token"):
            await tour.send("GET", path, 200, headers={})
        await tour.send("POST", "/v1/ingest/events", 200, json=events)
        await tour.send("POST", "/v1/ingest/debezium", 200, json=debezium)

        session = await tour.send("POST", "/session", 201)
        in_session = {**ADMIN, "X-Session-ID": session["id"]}
        window = {"start": _instant(start), "end": _instant(now)}
        await tour.send("GET", "/replay/range", 200)
        await tour.send("GET", "/replay/state", 200, headers=in_session)
        await tour.send("GET", "/replay/events", 200, headers=in_session, params=window)
        await tour.send("GET", "/replay/histogram", 200, params=window)
        await tour.send("GET", "/replay/gaps", 200, params={**window, "min_s": "5"})

        for note in ("first", "second"):
            await tour.send("POST", "/bookmarks", 201, json={"at": _instant(start), "note": note})
        await tour.send("GET", "/bookmarks", 200, params={"limit": "1"})

        export = await tour.send("POST", "/replay/exports", 202, json=window)
        await tour.send("GET", "/replay/exports/{export_id}", 200, path={"export_id": export["id"]})
        await tour.send("POST", "/replay/exports/{export_id}/cancel", 200, path={"export_id": export["id"]})

        await tour.send("GET", "/v1/configuration", 200)
        await tour.send("PUT", "/v1/configuration/snapshot-interval", 200, json={"snapshot_interval": "0 * * * *"})
        await tour.send("PUT", "/v1/configuration/snapshot-list-tables", 200, json={"list_tables": "public.buses"})
        await tour.send("GET", "/admin/settings", 200)
        await tour.send("PUT", "/admin/settings", 200, json={"cagg_refresh_interval_hours": 1.5})

        await _replay_steps(tour, start)
        await _job_steps(tour, settings)
        await tour.send("GET", "/admin/sessions", 200)
        await tour.send("GET", "/admin/sessions/status", 200)
        await tour.send("GET", "/admin/sessions/{session_id}/events", 200, path={"session_id": session["id"]})
        terminate = {"session_ids": [session["id"], str(uuid.uuid4())]}
        await tour.send("POST", "/admin/sessions/terminate", 200, json=terminate)

    assert _json_successes(document) - tour.visited == set()
