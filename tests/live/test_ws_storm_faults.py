"""The reconnect storm of R17 at full size (``make test-faults``): 1,000 viewers of one ``msr serve`` process,
one user each, cut at once without a close frame and reconnecting together with ``resume``. Prints the time until
all play again and the server's RSS before the viewers, with them, and after they all left (past the grace)."""

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.deploy.support import replicas
from tests.live.storm import drop_and_resume, join, leave, playing
from tests.live.support import ingest, new_session

pytestmark = pytest.mark.faults

VIEWERS = 1000
GRACE_S = 30
"""The default MSR_WS_RESUME_GRACE_S: a storm slower than it loses its kept viewers (fresh states)."""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_a_storm_of_a_thousand_viewers(settings, history, tmp_path):
    with replicas(settings, tmp_path, 1) as [server]:
        await server.ready()
        pid = server.process.pid
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            await ingest(client, history)
            session_id = await new_session(client)
        async with playing(server.url, session_id, history):
            before = rss_mib(pid)
            crowd = await join(server.url, session_id, VIEWERS, history, timeout_s=120)
            during = rss_mib(pid)
            figures = await drop_and_resume(server.url, session_id, crowd, timeout_s=120)
            await leave(crowd)
        await asyncio.sleep(GRACE_S + 3)
        after = rss_mib(pid)
        print(
            f"\nreconnect storm of {figures.viewers} viewers: all playing again after "
            f"{figures.seconds_to_all_playing:.1f} s (median {figures.median_s:.1f} s), "
            f"{figures.fresh_states} needed a fresh state; server RSS {before:.0f} MiB before the viewers, "
            f"{during:.0f} MiB with them, {after:.0f} MiB after they left ({time.strftime('%H:%M:%S')})"
        )
        assert figures.fresh_states == 0
