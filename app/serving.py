"""The uvicorn options of a server, the same for ``msr serve`` and the tests: the limits on slow and large clients.

uvicorn bounds an idle keep-alive connection (5 s) and how much of a request head it buffers while it arrives, but
not the size of a head that arrives whole, the time a client takes to send its head or body, nor how long a client
may leave the server's writes unread. Two protocol subclasses add these:

- a request line plus headers over ``MSR_HTTP_MAX_HEADER_BYTES`` is answered 431 ``REQUEST_HEADERS_TOO_LARGE``,
  however it arrives, and any other request the parser refuses a 400 ``VALIDATION_ERROR``: in the error envelope,
  before the application, and the connection is closed;
- a connection has ``MSR_HTTP_HEADER_TIMEOUT_S`` from its start (or from the end of its previous answer) to send
  a whole request line and headers, else it is cut: a slowloris client holds a socket for that long at most;
- a request's body has ``MSR_HTTP_BODY_TIMEOUT_S`` from the end of its head to arrive whole, else the request is
  answered 408 ``REQUEST_TIMEOUT`` in the application's place (which sees the client gone), or cut when the
  application has begun its answer;
- a connection whose send buffer stays over the high-water mark (the peer reads nothing) for
  ``MSR_SEND_TIMEOUT_S`` is aborted: its viewer's pump or its streamed answer (and the database cursor behind it)
  ends at once, and the buffers are freed. No close frame can reach a peer that does not read: it sees 1006.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import h11
import msgspec
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from app.errors import ApiError, ErrorCode, answer_of, error_body
from app.settings import Settings
from app.web import CORRELATION_HEADER

_log = logging.getLogger("msr.serving")
_HEAD_TOO_LARGE = 431


def head_bytes(request: h11.Request) -> int:
    """The size of a parsed request head, each line with its CRLF: the request line, one a header, the blank one."""
    lines = len(request.method) + len(request.target) + len(request.http_version) + 9
    return lines + sum(len(name) + len(value) + 4 for name, value in request.headers) + 2


class _HeadLimitedConnection(h11.Connection):
    """h11's server side; refuses a request head over the limit also when it arrived whole, and keeps why."""

    def __init__(self, max_head_bytes: int) -> None:
        # h11 refuses to buffer more than this while it waits for the end of a head.
        super().__init__(h11.SERVER, max_incomplete_event_size=max_head_bytes)
        self.max_head_bytes = max_head_bytes
        self.refusal: h11.RemoteProtocolError | None = None

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refusal = exc
            raise
        if isinstance(event, h11.Request) and head_bytes(event) > self.max_head_bytes:
            self.refusal = h11.RemoteProtocolError("request head too large", error_status_hint=_HEAD_TOO_LARGE)
            raise self.refusal
        return event


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
    """The HTTP and WebSocket protocol classes with the settings' limits on slow and large clients."""
    header_timeout_s = settings.http_header_timeout_s
    body_timeout_s = settings.http_body_timeout_s
    max_head_bytes = settings.http_max_header_bytes

    class WebSocketProtocol(_StallGuarded, WebSocketsSansIOProtocol):
        """uvicorn's WebSocket protocol, cut when the peer leaves its frames unread."""

        send_timeout_s = settings.send_timeout_s

    class HttpProtocol(_StallGuarded, H11Protocol):
        """uvicorn's HTTP/1.1 protocol with bounded heads, deadlines on heads, bodies and unread answers."""

        send_timeout_s = settings.send_timeout_s
        conn: _HeadLimitedConnection
        _head_timer: asyncio.TimerHandle | None = None
        _body_timer: asyncio.TimerHandle | None = None

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.conn = _HeadLimitedConnection(max_head_bytes)

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._follow_request()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._follow_request()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # The next head's time counts from the end of this answer.
            self._disarm_head_timer()
            self._follow_request()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head_timer()
            self._disarm_body_timer()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            refusal = self.conn.refusal
            if refusal is not None and refusal.error_status_hint == _HEAD_TOO_LARGE:
                problem = f"the request line and headers are over MSR_HTTP_MAX_HEADER_BYTES ({max_head_bytes} bytes)"
                self._refuse(_HEAD_TOO_LARGE, ErrorCode.REQUEST_HEADERS_TOO_LARGE, problem)
            else:
                reason = str(refusal)[:200] if refusal is not None else msg
                self._refuse(400, ErrorCode.VALIDATION_ERROR, f"malformed HTTP request: {reason}")

        def _follow_request(self) -> None:
            """Keep the deadline of the part of a request the client is sending: its head, then its body."""
            state = self.conn.their_state
            # A WebSocket upgrade hands the connection over to another protocol.
            ours = not self.transport.is_closing() and self.transport.get_protocol() is self
            if not (ours and state is h11.IDLE):
                self._disarm_head_timer()
            elif self._head_timer is None:
                self._head_timer = self.loop.call_later(header_timeout_s, self._head_too_slow)
            if not (ours and state is h11.SEND_BODY):
                self._disarm_body_timer()
            elif self._body_timer is None:
                self._body_timer = self.loop.call_later(body_timeout_s, self._body_too_slow)

        def _disarm_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _disarm_body_timer(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def _head_too_slow(self) -> None:
            self._head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                _log.info("HTTP: no complete request head in %.0f s; connection cut", header_timeout_s)
                self.transport.abort()

        def _body_too_slow(self) -> None:
            self._body_timer = None
            if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
                problem = f"the request body did not arrive within MSR_HTTP_BODY_TIMEOUT_S ({body_timeout_s:g} s)"
                self._refuse(408, ErrorCode.REQUEST_TIMEOUT, problem)

        def _refuse(self, status: int, code: ErrorCode, message: str) -> None:
            """Answer in the application's place (the error envelope) and close; cut once an answer has begun."""
            if self.conn.our_state not in {h11.IDLE, h11.SEND_RESPONSE}:
                _log.info("HTTP: %s; the answer had begun, connection cut", message)
                self.transport.abort()
                return
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:
                # The application waits for the rest of the request: it sees the client gone, as when the
                # connection drops, and what it answers goes nowhere.
                cycle.disconnected = True
                cycle.message_event.set()
            error = ApiError(status, code, message)
            correlation_id = str(uuid.uuid4())
            body = msgspec.json.encode(error_body(error, answer_of(error), correlation_id))
            _log.info("HTTP: %s; answered %d (correlation id %s)", message, status, correlation_id)
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                (CORRELATION_HEADER.lower().encode(), correlation_id.encode()),
            ]
            for event in (
                h11.Response(status_code=status, headers=headers, reason=STATUS_PHRASES[status]),
                h11.Data(data=body),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event) or b"")
            self.transport.close()

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
    }
