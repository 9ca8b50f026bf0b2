"""The playback WebSocket, ``/ws/replay/{session_id}`` (SPEC section 8; the protocol is in docs/protocol.md)."""

from __future__ import annotations

from typing import Any

from litestar import WebSocket, websocket
from litestar.params import FromPath

from app.live.socket import ReplayConnection
from app.services import ServicesDep


@websocket("/ws/replay/{session_id:str}", name="replay-socket")
async def replay_socket(socket: WebSocket[Any, Any, Any], session_id: FromPath[str], services: ServicesDep) -> None:
    """Attach a viewer to a session's playback: frames out, control commands in."""
    await ReplayConnection(socket, services, session_id).run()


ROUTES = [replay_socket]
