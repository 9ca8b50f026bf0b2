"""The UI's own endpoints: ``/`` and ``/operator`` pages, ``GET /ui/config`` (no sign-in needed), and
``GET /ui/dev-token``, which hands out the development admin token only in development mode and only to a
client on this machine."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.asgi import create_app
from app.cli import DEMO_ADMIN, DEMO_TENANT
from app.routes.ui import is_loopback
from app.settings import ConfigError, Settings
from tests.support import TEST_SECRET, RunningServer, bearer, serve


async def test_pages_are_served_and_revalidated(server: RunningServer) -> None:
    async with server.client() as client:
        for path, marker in (("/", "/static/build/app.js"), ("/operator", "/static/build/operator.js")):
            answer = await client.get(path)
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/html")
            assert marker in answer.text
            assert "no-cache" in answer.headers["cache-control"]


async def test_ui_config_needs_no_token_and_reports_tiles_and_mode(settings: Settings) -> None:
    configured = settings.replace(tile_url="https://tiles.example/{z}/{x}/{y}.png")
    async with serve(configured) as running, running.client() as client:
        answer = await client.get("/ui/config")
    assert answer.status_code == 200
    assert answer.json()["data"] == {
        "tile_url": "https://tiles.example/{z}/{x}/{y}.png",
        "dev_mode": False,
        "frame_interval_ms": settings.frame_interval_ms,
    }


async def test_dev_token_is_not_found_outside_development_mode(server: RunningServer) -> None:
    async with server.client() as client:
        answer = await client.get("/ui/dev-token")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NOT_FOUND"


async def test_dev_token_in_development_mode_is_an_admin_token_of_the_demo_tenant(settings: Settings) -> None:
    async with serve(settings.replace(dev_mode=True)) as running, running.client() as client:
        answer = await client.get("/ui/dev-token")
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        data = answer.json()["data"]
        assert (data["user_id"], data["tenant_id"], data["admin"]) == (DEMO_ADMIN, str(DEMO_TENANT), True)
        # The token works, as an admin.
        status = await client.get("/admin/sessions/status", headers=bearer(data["token"]))
        assert status.status_code == 200, status.text
        config = await client.get("/ui/config")
        assert config.json()["data"]["dev_mode"] is True


async def test_dev_token_is_refused_to_a_client_on_another_machine(settings: Settings) -> None:
    # The request comes in as from 192.0.2.10 (TEST-NET-1) through ASGI: no traffic leaves this machine.
    app = create_app(settings.replace(dev_mode=True))
    transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://msr.example") as client:
        answer = await client.get("/ui/dev-token")
    assert answer.status_code == 404
    local = httpx.ASGITransport(app=app, client=("127.0.0.1", 51000))
    async with httpx.AsyncClient(transport=local, base_url="http://msr.example") as client:
        assert (await client.get("/ui/dev-token")).status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("::ffff:10.0.0.5", False),
        ("example.org", False),
        (None, False),
        ("", False),
    ],
)
def test_loopback_clients_are_recognised(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    "value",
    ["https://tiles.example/{z}/{x}/{y}.png", "http://10.1.2.3:8080/osm/{z}/{x}/{y}.png", "/tiles/{z}/{x}/{y}.png"],
)
def test_tile_url_accepts_http_templates_and_paths(value: str) -> None:
    assert Settings.from_env({"MSR_TILE_URL": value}).tile_url == value


@pytest.mark.parametrize(
    "value",
    [
        "https://tiles.example/tile.png",
        "ftp://tiles.example/{z}/{x}/{y}.png",
        "//tiles.example/{z}/{x}/{y}.png",
        "tiles/{z}/{x}/{y}.png",
        "https://tiles.example/{z}/{x}/{y}.png extra",
    ],
)
def test_tile_url_without_a_usable_template_stops_the_start(value: str) -> None:
    with pytest.raises(ConfigError, match="MSR_TILE_URL"):
        Settings.from_env({"MSR_TILE_URL": value})


def test_serve_without_a_key_runs_in_development_mode(tmp_path: Path) -> None:
    from app.cli import _with_dev_key  # noqa: PLC0415 - the step of `msr serve` that chooses the mode

    development = _with_dev_key(Settings(data_dir=tmp_path))
    assert development.dev_mode
    assert development.jwt_secret
    configured = _with_dev_key(Settings(data_dir=tmp_path, jwt_secret=TEST_SECRET))
    assert not configured.dev_mode
