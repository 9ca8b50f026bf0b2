"""One playback WebSocket connection (SPEC section 8), from handshake to close.

Order of a connection: the ``Origin`` is checked before the handshake is accepted (a browser page from another
origin gets HTTP 403); the caller authenticates with ``Authorization: Bearer`` on the handshake or with an ``auth``
message within ``MSR_WS_AUTH_TIMEOUT_S``; the session must exist for the caller, be ACTIVE, and be theirs to watch.
Then ``hello``; then the server waits up to ``MSR_WS_RESUME_WAIT_MS`` for a ``resume`` (any other message ends the
wait at once) before it sends a fresh viewer its ``state``; then frames, while client messages are read and
answered. Every message the server sends goes through the viewer's pump, so a slow client only slows itself.

Limits per connection: a message over ``MSR_WS_MAX_MESSAGE_BYTES`` closes with 1009; a command (anything but
``auth``) over :data:`MAX_COMMAND_BYTES` gets an ``error`` (``MESSAGE_TOO_LARGE``); more than
``MSR_WS_RATE_LIMIT`` messages a second (bursts of twice that) get ``RATE_LIMITED`` errors, and a client that
keeps flooding through another burst's worth is closed with 1008. Keepalive pings are the server's (uvicorn's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any, Final, NoReturn, cast
from urllib.parse import urlsplit

from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect
from redis.exceptions import RedisError

from app import metrics
from app.auth import Principal, bearer_token
from app.domain.sessions import access_of
from app.errors import (
    CLOSE_INTERNAL,
    DomainError,
    ForbiddenError,
    NotAllowedError,
    ResourceNotFoundError,
    SessionInactiveError,
    UnauthorizedError,
    UnavailableError,
    answer_of,
)
from app.live.protocol import ClientCommand, command_of
from app.live.registry import LiveRegistry
from app.live.session import Attachment, status_message
from app.services import Services
from playback.errors import PlaybackError
from playback.messages import (
    BAD_MESSAGE,
    MESSAGE_TOO_LARGE,
    RATE_LIMITED,
    Auth,
    ClientMessage,
    ClientMessageError,
    Error,
    LoopTo,
    MessageId,
    Resume,
    Seek,
    Speed,
    Start,
    Step,
    Stop,
    Until,
    View,
    decode_client,
    encode,
)
from playback.viewport import Box, change_view, geometry_reader, viewed_diffs
from store.errors import NotFoundError, StoreUnavailableError

_log = logging.getLogger("msr.ws")

MAX_COMMAND_BYTES: Final = 4096
"""The largest command (any message but ``auth``, whose token may be long) before it is refused unread."""
_LATE_RESUME_TURNS: Final = 4
"""Turns of the event loop a ``resume`` already received gets to reach :meth:`ReplayConnection._first_message`
once the wait is over."""
CLOSE_POLICY: Final = 1008
CLOSE_TOO_BIG: Final = 1009


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a handshake's ``Origin`` may connect: absent (not a browser), listed, ``*``, or the same origin."""
    if origin is None or "*" in allowed:
        return True
    if allowed:
        return origin in allowed
    # No list: the page must come from this server, which the browser's Host header names.
    return host is not None and urlsplit(origin).netloc.lower() == host.lower()


class _ConnectionOverError(Exception):
    """The connection is over: the client left or was closed (``close`` is None), or must be closed with ``close``."""

    def __init__(self, close: tuple[int, str] | None = None) -> None:
        super().__init__(close)
        self.close = close


class _RateLimit:
    """A token bucket: ``rate`` messages a second, bursts of twice that; tells a flood from a burst."""

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._capacity = 2 * rate
        self._tokens = self._capacity
        self._refilled = time.monotonic()
        self._refused = 0
        self._warned_at = -1.0

    def take(self) -> bool:
        """Whether one more message is within the limit."""
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._refilled) * self._rate)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            self._refused = 0
            return True
        self._refused += 1
        return False

    @property
    def flooding(self) -> bool:
        """More refused messages in a row than a whole burst."""
        return self._refused > self._capacity

    def should_warn(self) -> bool:
        """Whether to send a ``RATE_LIMITED`` error now (at most one a second)."""
        now = time.monotonic()
        if now - self._warned_at >= 1.0:
            self._warned_at = now
            return True
        return False


class ReplayConnection:
    """The server side of one ``/ws/replay/{session_id}`` connection."""

    def __init__(self, socket: WebSocket[Any, Any, Any], services: Services, raw_session_id: str) -> None:
        self._socket = socket
        self._services = services
        self._hub: LiveRegistry = services.playback
        self._settings = services.settings
        self._raw_session_id = raw_session_id
        self._limit = _RateLimit(services.settings.ws_rate_limit)
        self._principal: Principal | None = None

    async def run(self) -> None:
        """Serve the connection until either side closes it."""
        socket = self._socket
        if not origin_allowed(socket.headers.get("origin"), socket.headers.get("host"), self._settings.allowed_origins):
            # Closing before accepting refuses the handshake (HTTP 403): the foreign page learns nothing.
            await socket.close(code=CLOSE_POLICY, reason="origin not allowed")
            return
        await socket.accept()
        try:
            principal = await self._authenticate()
            attachment = await self._attach(principal)
        except _ConnectionOverError as over:
            if over.close is not None:
                await self._close(*over.close)
            return
        park = True
        metrics.viewer_attached()
        try:
            park = await self._serve(attachment)
        except (WebSocketDisconnect, OSError):
            # The client left before its viewer started.
            park = True
        finally:
            metrics.viewer_detached()
            with contextlib.suppress(StoreUnavailableError):
                await self._hub.detach(attachment, principal.user_id, park=park)

    # Before the viewer exists: every send is direct.

    async def _authenticate(self) -> Principal:
        authenticator = self._services.authenticator
        header = self._socket.headers.get("authorization")
        try:
            if header is not None:
                self._principal = await authenticator.authenticate(bearer_token(header))
                return self._principal
            try:
                async with asyncio.timeout(self._settings.ws_auth_timeout_s):
                    message = await self._receive_message()
            except TimeoutError:
                await self._refuse(UnauthorizedError("no auth message in time"))
            if not isinstance(message, Auth):
                await self._refuse(UnauthorizedError("the first message must be auth"))
            self._principal = await authenticator.authenticate(message.token)
        except DomainError as error:
            await self._refuse(UnauthorizedError(error.message))
        return self._principal

    async def _attach(self, principal: Principal) -> Attachment:
        try:
            try:
                session_id = uuid.UUID(self._raw_session_id)
                row = await self._services.sessions.row(session_id)
            except (ValueError, NotFoundError):
                await self._refuse(ResourceNotFoundError(f"session {self._raw_session_id} not found"))
            access = access_of(principal, row)
            if row.status != "ACTIVE":
                await self._refuse(SessionInactiveError(f"session {row.id} is INACTIVE"))
            attachment = await self._hub.attach(row, principal, access)
        except DomainError as error:
            await self._refuse(error)
        except (StoreUnavailableError, RedisError, OSError):
            await self._refuse(UnavailableError("a dependency is unavailable; retry"))
        return attachment

    async def _refuse(self, error: DomainError) -> NoReturn:
        """Answer the error and close the connection with the error's close code."""
        answer = answer_of(error)
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
            await self._send(encode(Error(code=answer.ws_code, message=error.message)))
            await self._socket.close(code=answer.close or CLOSE_INTERNAL, reason=error.message[:120])
        raise _ConnectionOverError

    # With the viewer: the pump sends, this task reads.

    async def _serve(self, attachment: Attachment) -> bool:
        """Run the connection; answers whether its viewer should be parked for a resume (the client just left)."""
        await self._send(attachment.hello)
        try:
            first = await self._first_message(attachment)
        except _ConnectionOverError as over:
            if over.close is None:
                return True
            await self._close(*over.close)
            return False
        live = attachment.live
        diffs = viewed_diffs(attachment.viewer.outbox, live.source.state, live.source.seek_diff)
        pump = asyncio.create_task(attachment.viewer.pump(self._send, live.state, diffs))
        reader = asyncio.create_task(self._read(attachment, first))
        try:
            await asyncio.wait({pump, reader}, return_when=asyncio.FIRST_COMPLETED)
            if reader.done() and not reader.cancelled() and reader.exception() is None:
                close = reader.result()
                if close is None:
                    return True
                # The pump sends the errors that explain the close, then stops (unless the client is stuck).
                attachment.viewer.close(*close)
                await asyncio.wait({pump}, timeout=1.0)
                if not pump.done():
                    await self._close(*close)
                    return False
        finally:
            for task in (pump, reader):
                task.cancel()
            await asyncio.gather(pump, reader, return_exceptions=True)
        if pump.done() and not pump.cancelled():
            error = pump.exception()
            if error is None:
                code, reason = pump.result()
                await self._close(code, reason)
                return False
            if not isinstance(error, WebSocketDisconnect | OSError):
                _log.error("viewer of session %s failed", live.session_id, exc_info=error)
                await self._close(CLOSE_INTERNAL, "internal error; reconnect and resume")
        return True

    async def _first_message(self, attachment: Attachment) -> ClientMessage | bytes | None:
        """Wait briefly for a ``resume``; answer the first message if it is something else (to handle next)."""
        wait_s = self._settings.ws_resume_wait_ms / 1000
        if wait_s <= 0:
            return None
        receive = asyncio.ensure_future(self._receive_checked())
        try:
            await asyncio.wait({receive}, timeout=wait_s)
            # A reconnect storm keeps the event loop busy, so its timer ends the wait late, in the same turn as the read
            # of a resume that arrived in time. Reaching this task takes that resume a few more turns (the socket, the
            # frame, the read): it gets them, rather than losing to the timer and getting a fresh state numbered 1.
            for _ in range(_LATE_RESUME_TURNS):
                if receive.done():
                    break
                await asyncio.sleep(0)
        finally:
            if not receive.done():
                # Cancelling the read leaves a message that arrives later for _read (uvicorn queues it).
                receive.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receive
        if receive.cancelled():
            return None
        message = receive.result()
        if isinstance(message, Resume):
            assert self._principal is not None
            viewer = self._hub.resume(attachment, self._principal.user_id, message.seq)
            if message.id is not None:
                status = attachment.live.now()
                viewer.notice(encode(status_message(status, reply_to=message.id)))
            return None
        return message

    async def _read(self, attachment: Attachment, first: ClientMessage | bytes | None) -> tuple[int, str] | None:
        """Read and answer client messages until the client leaves (None) or must be closed (the code, reason)."""
        try:
            if first is not None:
                await self._handle(attachment, first)
            while True:
                await self._handle(attachment, await self._receive_checked())
        except _ConnectionOverError as over:
            return over.close

    async def _handle(self, attachment: Attachment, message: ClientMessage | bytes) -> None:
        viewer = attachment.viewer
        if isinstance(message, bytes):
            viewer.notice(message)
            return
        match message:
            case Auth(token=token):
                await self._reauthenticate(attachment, token, message.id)
            case Resume():
                self._refusal(attachment, NotAllowedError("resume only as the first message after hello"), message.id)
            case View():
                self._view(attachment, message)
            case _ if attachment.access != "control":
                self._refusal(
                    attachment, ForbiddenError("this viewer may watch but not control the session"), message.id
                )
            case Start() | Stop() | Seek() | Speed() | Step() | LoopTo() | Until():
                await self._command(attachment, message)

    async def _command(self, attachment: Attachment, message: ClientCommand) -> None:
        assert self._principal is not None
        try:
            status = await self._hub.control(attachment.live, self._principal.user_id, command_of(message))
        except (DomainError, PlaybackError) as error:
            self._refusal(attachment, error, message.id)
            return
        except (StoreUnavailableError, RedisError, OSError):
            self._refusal(attachment, UnavailableError("a dependency is unavailable; retry"), message.id)
            return
        if message.id is not None:
            attachment.viewer.notice(encode(status_message(status, reply_to=message.id)))

    def _view(self, attachment: Attachment, message: View) -> None:
        """A viewport for this viewer alone (watching is enough): the diff is queued, a ``status`` acknowledges it."""
        box = None if message.bbox is None else Box(*message.bbox)
        geometry = geometry_reader(self._settings.viewport_geometry_path)
        change_view(attachment.viewer.outbox, box, geometry, attachment.live.frame_indexes)
        # The status also wakes a paused viewer's pump, which then sends the diff.
        attachment.viewer.status(encode(status_message(attachment.live.now(), reply_to=message.id)))

    async def _reauthenticate(self, attachment: Attachment, token: str, message_id: MessageId | None) -> None:
        # A fresh token for the same caller is fine (long connections outlive tokens); another caller is not.
        try:
            principal = await self._services.authenticator.authenticate(token)
        except DomainError as error:
            self._refusal(attachment, UnauthorizedError(error.message), message_id)
            return
        current = self._principal
        if current is None or (principal.user_id, principal.tenant_id) != (current.user_id, current.tenant_id):
            self._refusal(attachment, ForbiddenError("a connection cannot change its caller"), message_id)

    def _refusal(self, attachment: Attachment, error: Exception, reply_to: MessageId | None) -> None:
        """Answer a refused message with its ``error`` (the connection goes on)."""
        code = answer_of(error).ws_code
        attachment.viewer.notice(encode(Error(code=code, message=str(error), reply_to=reply_to)))

    # Reading with the limits.

    async def _receive_message(self) -> ClientMessage:
        """The next well-formed client message; errors are answered directly (before the viewer exists)."""
        while True:
            message = await self._receive_checked()
            if not isinstance(message, bytes):
                return message
            await self._send(message)

    async def _receive_checked(self) -> ClientMessage | bytes:
        """The next client message, or the encoded ``error`` that answers it; closes on a flood or a giant."""
        while True:
            event = await self._socket.receive()
            if event["type"] == "websocket.disconnect":
                raise _ConnectionOverError
            text = cast("str | None", event.get("text"))
            data = cast("bytes | None", event.get("bytes"))
            size = len(data) if text is None and data is not None else len((text or "").encode())
            if size > self._settings.ws_max_message_bytes:
                raise _ConnectionOverError((CLOSE_TOO_BIG, f"message over {self._settings.ws_max_message_bytes} bytes"))
            if self._limit.take():
                break
            if self._limit.flooding:
                raise _ConnectionOverError((CLOSE_POLICY, "too many messages"))
            if self._limit.should_warn():
                return encode(Error(code=RATE_LIMITED, message="too many messages; slow down"))
        if text is None:
            return encode(Error(code=BAD_MESSAGE, message="messages are JSON text frames"))
        try:
            message = decode_client(text)
        except ClientMessageError as error:
            if size > MAX_COMMAND_BYTES:
                return encode(Error(code=MESSAGE_TOO_LARGE, message=f"commands are at most {MAX_COMMAND_BYTES} bytes"))
            return encode(Error(code=error.code, message=str(error)))
        if size > MAX_COMMAND_BYTES and not isinstance(message, Auth):
            return encode(
                Error(
                    code=MESSAGE_TOO_LARGE,
                    message=f"commands are at most {MAX_COMMAND_BYTES} bytes",
                    reply_to=message.id,
                )
            )
        return message

    async def _send(self, message: bytes) -> None:
        await self._socket.send_text(message.decode())

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
            await self._socket.close(code=code, reason=reason[:120])
