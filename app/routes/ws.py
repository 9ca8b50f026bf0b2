"""The playback WebSocket, ``/ws/replay/{session_id}`` (SPEC section 8; the protocol is in docs/protocol.md)."""

from __future__ import annotations

import logging
from typing import Any

from litestar import WebSocket, websocket
from litestar.params import FromPath

from app.live.socket import ReplayConnection
from app.services import ServicesDep

_log = logging.getLogger("msr.ws")


@websocket("/ws/replay/{session_id:str}", name="replay-socket")
async def replay_socket(socket: WebSocket[Any, Any, Any], session_id: FromPath[str], services: ServicesDep) -> None:
    """Attach a viewer to a session's playback: frames out, control commands in."""
    try:
        await ReplayConnection(socket, services, session_id).run()
    except Exception:
        # Litestar closes the socket with 4500; without this line the cause would be lost.
        _log.exception("the playback socket of session %s failed", session_id)
        raise


ROUTES = [replay_socket]
