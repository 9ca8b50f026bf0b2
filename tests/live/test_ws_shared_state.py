"""Viewers attaching to a paused session at once share one read of its state: each still gets the true state,
complete and numbered from 1, whether it made the read or waited for another's."""

import asyncio
import contextlib

from tests.live.support import TENANT, Watcher, new_session, open_socket
from tests.support import make_token

TOKEN = make_token("viewer-1", TENANT)


async def test_viewers_attaching_at_once_each_get_the_true_state(live_server, history):
    async with live_server.client() as client:
        session_id = await new_session(client)
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(open_socket(live_server.url, session_id, TOKEN)) for _ in range(6)]
        watchers = [Watcher(ws, history) for ws in sockets]
        await asyncio.gather(*(watcher.state_complete() for watcher in watchers))
        # A viewer that comes once the others have their state gets the kept read.
        async with open_socket(live_server.url, session_id, TOKEN) as late:
            watchers.append(Watcher(late, history))
            await watchers[-1].state_complete()
    for watcher in watchers:
        assert watcher.position == history.first
        watcher.assert_picture_true()
