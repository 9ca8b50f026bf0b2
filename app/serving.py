"""The uvicorn options of a server, the same for ``msr serve`` and the tests: the limits on slow clients.

uvicorn bounds an idle keep-alive connection (5 s) and the size of a request's head, but not the time a client
takes to send it, nor how long a client may leave the server's writes unread. Two protocol subclasses add both:

- a connection has ``MSR_HTTP_HEADER_TIMEOUT_S`` from its start (or from the end of its previous answer) to send
  a whole request line and headers, else it is cut: a slowloris client holds a socket for that long at most;
- a connection whose send buffer stays over the high-water mark (the peer reads nothing) for
  ``MSR_SEND_TIMEOUT_S`` is aborted: its viewer's pump or its streamed answer (and the database cursor behind it)
  ends at once, and the buffers are freed. No close frame can reach a peer that does not read: it sees 1006.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from app.settings import Settings

_log = logging.getLogger("msr.serving")


class _StallGuarded(asyncio.Protocol):
    """Aborts the connection when its writes stay paused (the peer reads nothing) for ``send_timeout_s``."""

    send_timeout_s: float = 15.0
    transport: asyncio.Transport
    _stall_timer: asyncio.TimerHandle | None = None

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stall_timer is None:
            self._stall_timer = asyncio.get_running_loop().call_later(self.send_timeout_s, self._cut_stalled)

    def resume_writing(self) -> None:
        self._cancel_stall()
        super().resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_stall()
        super().connection_lost(exc)

    def _cancel_stall(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def _cut_stalled(self) -> None:
        self._stall_timer = None
        _log.info("the client read nothing for %.0f s; connection cut", self.send_timeout_s)
        self.transport.abort()


def protocols(settings: Settings) -> tuple[type[H11Protocol], type[WebSocketsSansIOProtocol]]:
    """The HTTP and WebSocket protocol classes with the settings' slow-client limits."""
    header_timeout_s = settings.http_header_timeout_s

    class WebSocketProtocol(_StallGuarded, WebSocketsSansIOProtocol):
        """uvicorn's WebSocket protocol, cut when the peer leaves its frames unread."""

        send_timeout_s = settings.send_timeout_s

    class HttpProtocol(_StallGuarded, H11Protocol):
        """uvicorn's HTTP/1.1 protocol with a deadline on request heads and on unread answers."""

        send_timeout_s = settings.send_timeout_s
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_head_timer()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                # The head is in (a WebSocket upgrade replaced this protocol too).
                self._disarm_head_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head_timer()
            super().connection_lost(exc)

        def _arm_head_timer(self) -> None:
            self._disarm_head_timer()
            self._head_timer = self.loop.call_later(header_timeout_s, self._head_too_slow)

        def _disarm_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_too_slow(self) -> None:
            self._head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                _log.info("HTTP: no complete request head in %.0f s; connection cut", header_timeout_s)
                self.transport.abort()

    return HttpProtocol, WebSocketProtocol


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.Config`` that carry the server's limits (besides app, host, port)."""
    http, ws = protocols(settings)
    return {
        "http": http,
        "ws": ws,
        "ws_per_message_deflate": False,
        # The app closes with 1009 past this size too; here the server does not even buffer more.
        "ws_max_size": settings.ws_max_message_bytes,
        "ws_ping_interval": settings.ws_ping_interval_s,
        "ws_ping_timeout": settings.ws_ping_interval_s,
        "h11_max_incomplete_event_size": settings.http_max_header_bytes,
    }
