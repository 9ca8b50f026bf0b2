"""Fixtures of the live playback tests: settings with short waits, and a server with a known history."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.settings import Settings
from tests.live.support import History, ingest, make_history, recent_start
from tests.support import RunningServer, serve


@pytest.fixture
def live_settings(settings: Settings) -> Settings:
    return settings.replace(ws_resume_wait_ms=100, ws_auth_timeout_s=1.0)


@pytest.fixture
def history() -> History:
    return make_history(recent_start())


@pytest.fixture
async def live_server(live_settings: Settings, history: History) -> AsyncIterator[RunningServer]:
    async with serve(live_settings) as running:
        async with running.client() as client:
            await ingest(client, history)
        yield running
