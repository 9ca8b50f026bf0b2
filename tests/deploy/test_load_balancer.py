"""Three ``msr serve`` replicas behind a real nginx (Debian's, with deploy/nginx/msr-proxy.conf): REST and viewers
go through the proxy, requests spread over the replicas, and viewers on different replicas see one playback.

``make test`` installs nginx with apt-get when it is missing and the machine allows it (``make nginx``).
"""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.support import NGINX, nginx, replicas
from tests.live.support import TENANT, Watcher, ingest, make_history, new_session, of_type, open_socket, recent_start
from tests.support import bearer, make_token

pytestmark = pytest.mark.skipif(
    not os.access(NGINX, os.X_OK), reason=f"{NGINX} is missing: `make nginx` installs Debian's nginx-light"
)

METRICS_TOKEN = "fleet-metrics-token-0123"
VIEWERS = 3


def health_requests(scrape: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(scrape)
        for sample in family.samples
        if sample.name == "msr_http_requests_total" and sample.labels["route"] == "/health"
    )


async def test_three_replicas_behind_nginx_serve_rest_and_viewers_through_it(settings, tmp_path):
    history = make_history(recent_start(), seconds=20)
    token = make_token("viewer-1", TENANT)
    with replicas(settings, tmp_path, 3, MSR_METRICS_TOKEN=METRICS_TOKEN, MSR_WS_RESUME_WAIT_MS="100") as fleet:
        await asyncio.gather(*(replica.ready() for replica in fleet))
        with nginx([replica.url for replica in fleet], tmp_path) as proxy:
            async with httpx.AsyncClient(base_url=proxy, timeout=30) as client:
                # REST through the proxy: recording, a session, a replay read, and the proxy's own 404 for metrics.
                await ingest(client, history)
                session_id = await new_session(client)
                state = await client.get(
                    "/replay/state",
                    params={"session_id": session_id, "timestamp": history.last.isoformat()},
                    headers=bearer(token),
                )
                assert state.status_code == 200, state.text
                assert (await client.get("/metrics", headers=bearer(METRICS_TOKEN))).status_code == 404
                for _ in range(3 * len(fleet)):
                    assert (await client.get("/health")).status_code == 200
            # Every replica answered some of them (its own metrics say so).
            for replica in fleet:
                async with httpx.AsyncClient(base_url=replica.url, timeout=10) as direct:
                    scrape = await direct.get("/metrics", headers=bearer(METRICS_TOKEN))
                assert health_requests(scrape.text) >= 1, f"{replica.url} got no request through nginx"

            # Browser-like viewers through the proxy: the same-origin check sees the proxy's Host, port included.
            viewers = [
                Watcher(await open_socket(proxy, session_id, token, origin=proxy), history) for _ in range(VIEWERS)
            ]
            for viewer in viewers:
                await viewer.state_complete()
            await viewers[-1].send(type="start", speed=4.0, id="go")
            assert (await viewers[-1].until(of_type("status", reply_to="go")))["state"] == "playing"
            await asyncio.gather(
                *(viewer.until(lambda m, v=viewer: m["type"] == "events" and len(v.frames) >= 10) for viewer in viewers)
            )
            for viewer in viewers:
                viewer.assert_picture_true()
                await viewer.ws.close()
