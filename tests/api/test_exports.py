"""Exports of a replay window (POST /replay/exports) through the real server: the NDJSON file equals
GET /replay/events, the MCAP file read back with the mcap library gives the same events per channel, downloads
honour Range, cancel, bad input, and another tenant's export is a 404."""

import asyncio
import io
import json
import time
import uuid
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st
from mcap.reader import make_reader

from app.domain.exports import table_schema
from store.jobs import JobRepository
from store.pool import Database, PoolConfig
from tests.api.test_replay_reads import EXAMPLES, NOW, Tenant, at, histories, probe, stamp
from tests.store.model import TABLES, Ev
from tests.support import bearer, make_token

DONE = {"completed", "failed", "cancelled"}
WAIT_S = 30.0


async def export(tenant: Tenant, **body) -> dict:
    answer = await tenant.client.post("/replay/exports", json=body, headers=tenant.headers)
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == f"/replay/exports/{answer.json()['data']['id']}"
    return answer.json()["data"]


async def finished(tenant: Tenant, export_id: str) -> dict:
    deadline = time.monotonic() + WAIT_S
    while True:
        answer = await tenant.client.get(f"/replay/exports/{export_id}", headers=tenant.headers)
        assert answer.status_code == 200, answer.text
        job = answer.json()["data"]
        if job["status"] in DONE:
            return job
        assert time.monotonic() < deadline, f"export still {job['status']}"
        await asyncio.sleep(0.05)


async def download(tenant: Tenant, export_id: str, **headers) -> bytes:
    answer = await tenant.client.get(f"/replay/exports/{export_id}/download", headers={**tenant.headers, **headers})
    assert answer.status_code == 200, answer.text
    return answer.content


async def events_ndjson(tenant: Tenant, start, end, **params) -> bytes:
    answer = await tenant.client.get(
        "/replay/events",
        params={"start": stamp(start), "end": stamp(end), **params},
        headers={**tenant.headers, "X-Session-ID": tenant.session_id, "Accept": "application/x-ndjson"},
    )
    assert answer.status_code == 200, answer.text
    return answer.content


def mcap_events(data: bytes) -> dict[str, list[dict]]:
    """The messages of an MCAP file per topic, checking each channel's schema and each message's time."""
    per_topic: dict[str, list[dict]] = {}
    reader = make_reader(io.BytesIO(data))
    summary = reader.get_summary()
    assert summary is not None
    for schema, channel, message in reader.iter_messages(log_time_order=False):
        assert schema is not None
        assert (schema.name, schema.encoding, channel.message_encoding) == (channel.topic, "jsonschema", "json")
        assert json.loads(schema.data) == table_schema(channel.topic)
        item = json.loads(message.data)
        assert item["table_name"] == channel.topic
        assert message.log_time == message.publish_time
        moment = item["event_timestamp"]
        assert message.log_time == nanos(moment)
        per_topic.setdefault(channel.topic, []).append(item)
    return per_topic


def nanos(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


filters = st.sampled_from(
    [
        {},
        {"tables": "public.a,c"},
        {"tables": ["public.b"]},
        {"filter_tables": "public.a", "filter_min_timestamp": stamp(at(12))},
    ]
)


@EXAMPLES
@given(history=histories(), moments=st.lists(probe, min_size=2, max_size=2).map(sorted), chosen=filters)
async def test_exports_equal_the_events_read_in_ndjson_and_mcap(server, history, moments, chosen):
    async with server.client() as client:
        tenant = await Tenant(client).start(history)
        try:
            earliest = await tenant.range_start()
            start, end = (max(moment, earliest) for moment in moments)
            window = {"start": stamp(start), "end": stamp(end), **chosen}
            as_params = {k: ",".join(v) if isinstance(v, list) else v for k, v in chosen.items()}
            expected = await events_ndjson(tenant, start, end, **as_params)
            items = [json.loads(line) for line in expected.splitlines()]
            lines = await export(tenant, format="ndjson", **window)
            mcap = await export(tenant, format="mcap", **window)
            done = await finished(tenant, lines["id"])
            assert (done["status"], done["done"], done["total"]) == ("completed", len(items), len(items))
            assert done["bytes"] == len(expected)
            assert await download(tenant, lines["id"]) == expected
            assert (await finished(tenant, mcap["id"]))["status"] == "completed"
            per_topic = mcap_events(await download(tenant, mcap["id"]))
            assert per_topic == {
                table: [item for item in items if item["table_name"] == table]
                for table in TABLES
                if any(item["table_name"] == table for item in items)
            }
        finally:
            await client.post(f"/session/{tenant.session_id}/terminate", headers=tenant.headers)


async def completed_export(tenant: Tenant, size: int = 40) -> tuple[str, bytes]:
    # The first event opens the playback range; the export holds the others.
    first = Ev("c", "0", "c", at(0), "{}")
    history = [first] + [
        Ev("public.a", str(i), "c", at(1, i), json.dumps({"i": i, "pad": "x" * 30})) for i in range(size)
    ]
    await tenant.start(history)
    job = await export(tenant, start=stamp(at(0)), end=stamp(at(2)))
    assert (await finished(tenant, job["id"]))["status"] == "completed"
    return job["id"], await download(tenant, job["id"])


async def test_downloads_resume_with_range(server):
    async with server.client() as client:
        tenant = Tenant(client)
        export_id, whole = await completed_export(tenant)
        path = f"/replay/exports/{export_id}/download"
        size = len(whole)

        async def ranged(value: str, **extra):
            return await client.get(path, headers={**tenant.headers, "Range": value, **extra})

        middle = await ranged("bytes=10-99")
        tail = await ranged("bytes=100-")
        suffix = await ranged("bytes=-25")
        past_end = await ranged(f"bytes=10-{size + 50}")
        unsatisfiable = await ranged(f"bytes={size}-")
        other_version = await ranged("bytes=10-99", **{"If-Range": '"something-else"'})
        same_version = await ranged("bytes=10-99", **{"If-Range": middle.headers["etag"]})
        several = await ranged("bytes=0-1,5-6")
    assert (middle.status_code, middle.content) == (206, whole[10:100])
    assert middle.headers["content-range"] == f"bytes 10-99/{size}"
    assert middle.headers["accept-ranges"] == "bytes"
    assert (tail.status_code, tail.content) == (206, whole[100:])
    assert (suffix.status_code, suffix.content) == (206, whole[-25:])
    assert suffix.headers["content-range"] == f"bytes {size - 25}-{size - 1}/{size}"
    assert (past_end.status_code, past_end.content) == (206, whole[10:])
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{size}"
    assert unsatisfiable.json()["error"]["code"] == "RANGE_NOT_SATISFIABLE"
    assert (other_version.status_code, other_version.content) == (200, whole)
    assert (same_version.status_code, same_version.content) == (206, whole[10:100])
    assert (several.status_code, several.content) == (200, whole)


async def test_another_tenants_export_is_not_found(server):
    async with server.client() as client:
        owner = Tenant(client, "owner")
        export_id, _ = await completed_export(owner, size=3)
        stranger = Tenant(client, "stranger")
        colleague = Tenant(client, "colleague")
        colleague.id = owner.id
        colleague.headers = bearer(make_token("colleague", owner.id))
        answers = [
            await client.get(f"/replay/exports/{export_id}", headers=stranger.headers),
            await client.get(f"/replay/exports/{export_id}/download", headers=stranger.headers),
            await client.post(f"/replay/exports/{export_id}/cancel", headers=stranger.headers),
            await client.get(f"/replay/exports/{uuid.uuid4()}", headers=owner.headers),
        ]
        bad_id = await client.get("/replay/exports/not-a-uuid", headers=owner.headers)
        # The export is the tenant's: a colleague of the same tenant sees it.
        shared = await client.get(f"/replay/exports/{export_id}", headers=colleague.headers)
    assert [answer.status_code for answer in answers] == [404, 404, 404, 404]
    assert {answer.json()["error"]["code"] for answer in answers} == {"NOT_FOUND"}
    assert bad_id.status_code == 400
    assert bad_id.json()["error"]["details"]["field"] == "export_id"
    assert shared.status_code == 200


async def test_bad_requests_name_the_field_and_schedule_nothing(server, settings):
    good = {"start": stamp(at(0)), "end": stamp(at(2))}
    cases = [
        ({"end": good["end"]}, "start"),
        ({**good, "format": "csv"}, "format"),
        ({**good, "start": "yesterday"}, "start"),
        ({**good, "end": "2026-01-01T00:00:00"}, "end"),
        ({**good, "tables": "no spaces allowed"}, "tables"),
        ({**good, "filter_tables": "public.a"}, "filter_min_timestamp"),
        ({"start": good["end"], "end": good["start"]}, "start"),
        ({**good, "end": stamp(NOW.replace(year=NOW.year + 1))}, "end"),
    ]
    async with server.client() as client:
        tenant = Tenant(client)
        answers = [await client.post("/replay/exports", json=body, headers=tenant.headers) for body, _ in cases]
        unknown = await client.post("/replay/exports", json={**good, "colour": "red"}, headers=tenant.headers)
        not_json = await client.post("/replay/exports", content=b"{", headers=tenant.headers)
        anonymous = await client.post("/replay/exports", json=good)
    for (body, field), answer in zip(cases, answers, strict=True):
        assert answer.status_code == 400, (body, answer.text)
        error = answer.json()["error"]
        assert error["details"]["field"] == field, (body, error)
    assert unknown.status_code == 400
    assert "colour" in unknown.text
    assert not_json.status_code == 400
    assert anonymous.status_code == 401
    database = Database(PoolConfig(dsn=settings.database_url, min_size=1, max_size=1))
    await database.open()
    try:
        assert (await JobRepository(database).list_jobs()).total == 0
    finally:
        await database.close()


async def test_cancel_ends_the_export_and_removes_its_file(server):
    async with server.client() as client:
        tenant = Tenant(client)
        history = [Ev("c", "0", "c", at(0), "{}")]
        history += [Ev("public.a", str(i % 50), "u", at(1, i), json.dumps({"i": i})) for i in range(5000)]
        await tenant.start(history)
        job = await export(tenant, start=stamp(at(0)), end=stamp(at(2)), format="mcap")
        cancel = await client.post(f"/replay/exports/{job['id']}/cancel", headers=tenant.headers)
        assert cancel.status_code == 200, cancel.text
        done = await finished(tenant, job["id"])
        download_answer = await client.get(f"/replay/exports/{job['id']}/download", headers=tenant.headers)
        again = await client.post(f"/replay/exports/{job['id']}/cancel", headers=tenant.headers)
    # Cancelled before or while it ran; a race with a quick export may let it complete first.
    if done["status"] == "cancelled":
        assert download_answer.status_code == 409
        assert download_answer.json()["error"]["code"] == "CONFLICT"
    else:
        assert done["status"] == "completed"
        assert download_answer.status_code == 200
    assert again.json()["data"]["status"] == done["status"]


async def test_an_export_scheduled_on_one_replica_downloads_from_another(server, settings, start_server):
    async with start_server(settings) as other, server.client() as client, other.client() as other_client:
        tenant = Tenant(client)
        export_id, whole = await completed_export(tenant, size=10)
        elsewhere = Tenant(other_client)
        elsewhere.headers = tenant.headers
        assert (await finished(elsewhere, export_id))["status"] == "completed"
        assert await download(elsewhere, export_id) == whole
        ranged = await other_client.get(
            f"/replay/exports/{export_id}/download", headers={**tenant.headers, "Range": "bytes=5-9"}
        )
    assert (ranged.status_code, ranged.content) == (206, whole[5:10])


async def test_the_openapi_document_describes_the_export_operations(server):
    async with server.client() as client:
        document = (await client.get("/schema/openapi.json")).json()
    paths = document["paths"]
    assert "post" in paths["/replay/exports"]
    assert "get" in paths["/replay/exports/{export_id}"]
    assert "post" in paths["/replay/exports/{export_id}/cancel"]
    assert "get" in paths["/replay/exports/{export_id}/download"]
    body = paths["/replay/exports"]["post"]["requestBody"]
    assert body is not None
