"""The UI's own endpoints: ``/`` and ``/operator`` pages, ``GET /ui/config`` (no sign-in needed), and
``GET /ui/dev-token``, which hands out the development admin token only in development mode and only to a
client on this machine."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.asgi import create_app
from app.cli import check_development_listen_address
from app.demo import DEMO_ADMIN, DEMO_TENANT
from app.settings import ConfigError, Settings, is_loopback_host
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
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        answer = await client.get("/ui/dev-token")
    assert answer.status_code == 404
    local = httpx.ASGITransport(app=app, client=("127.0.0.1", 51000))
    async with httpx.AsyncClient(transport=local, base_url="http://127.0.0.1:8000") as client:
        assert (await client.get("/ui/dev-token")).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        ("Forwarded", "for=192.0.2.10;proto=https"),
        ("X-Forwarded-For", "192.0.2.10"),
        ("X-Real-IP", "192.0.2.10"),
        ("x-forwarded-for", "127.0.0.1"),
    ],
)
async def test_dev_token_is_refused_through_a_proxy_on_this_machine(
    settings: Settings, header: tuple[str, str]
) -> None:
    # A reverse proxy on the same host connects from 127.0.0.1 for every visitor; its headers give it away.
    async with serve(settings.replace(dev_mode=True)) as running, running.client() as client:
        answer = await client.get("/ui/dev-token", headers=[header])
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "NOT_FOUND"
        assert "token" not in answer.text
        assert (await client.get("/ui/dev-token")).status_code == 200


async def test_dev_token_is_refused_on_a_listen_address_other_than_loopback(settings: Settings) -> None:
    # A server listening on all interfaces, reached on one of its network addresses (the ASGI scope's "server").
    app = create_app(settings.replace(dev_mode=True, host="0.0.0.0", dev_allow_remote=True))
    for listen in ("http://192.0.2.1:8000", "http://msr.example:8000"):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 51000))
        async with httpx.AsyncClient(transport=transport, base_url=listen) as client:
            assert (await client.get("/ui/dev-token")).status_code == 404, listen
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
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
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        (None, False),
        ("", False),
    ],
)
def test_loopback_addresses_are_recognised(host: str | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


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


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "msr.example"])
def test_development_mode_refuses_a_non_loopback_listen_address(host: str) -> None:
    with pytest.raises(ConfigError, match="MSR_DEV_ALLOW_REMOTE"):
        check_development_listen_address(Settings(host=host))


def test_development_mode_on_a_non_loopback_address_when_told_explicitly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    told = Settings.from_env({"MSR_HOST": "0.0.0.0", "MSR_DEV_ALLOW_REMOTE": "true", "MSR_DATA_DIR": str(tmp_path)})
    with caplog.at_level("WARNING", logger="msr.cli"):
        check_development_listen_address(told)
    assert "MSR_DEV_ALLOW_REMOTE" in caplog.text
    # A configured key is not development mode: any listen address is the operator's choice.
    caplog.clear()
    check_development_listen_address(Settings(host="0.0.0.0", jwt_secret=TEST_SECRET))
    check_development_listen_address(Settings(host="localhost"))
    assert not caplog.text


@pytest.mark.parametrize("value", ["maybe", "2", "truthy"])
def test_dev_allow_remote_must_be_a_flag(value: str) -> None:
    with pytest.raises(ConfigError, match="MSR_DEV_ALLOW_REMOTE"):
        Settings.from_env({"MSR_DEV_ALLOW_REMOTE": value})
