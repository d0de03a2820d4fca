"""What one slow or stalled connection may hold, bounded where uvicorn leaves it open: uvicorn's own protocols,
each with a small subclass that `serving.uvicorn_options` hands to uvicorn.

- Headers have a deadline. uvicorn has no header timeout: a client that opens a connection and sends nothing,
  or sends its headers one line every few seconds, holds a file descriptor (and a connection slot) for good.
  Here a request whose headers are not complete QIE_HEADER_TIMEOUT_SECONDS after its connection opened (on a
  kept-alive connection: after its first byte; the wait before it is uvicorn's keep-alive timeout) is answered
  408 and its connection closed.
- Connections are capped (QIE_MAX_CONNECTIONS). uvicorn's `limit_concurrency` answers a bare "Service
  Unavailable" and lets WebSocket upgrades through whatever the count; here a request past the cap, WebSocket
  upgrades included, gets a 503 that says why, with Retry-After, and its connection closed. A connection is
  accepted before it can be refused, so one whose headers stall still holds a slot: the header deadline frees it.
- A WebSocket that is closed lets go. When a peer stops reading, what we send fills the kernel's buffers and
  then the transport's, and closing a transport waits for its buffer to drain: the socket stayed open forever
  (after a ping timeout, after the app gave up on it). Here a WebSocket still holding unsent bytes this long
  after it was closed (its ping timeout, or CLOSE_GRACE_SECONDS without pings) is aborted.
- An answer that closes mid-request reaches its client. Closing a socket with unread bytes in it sends a TCP
  reset, and a reset makes the peer's kernel drop what it had received but not yet handed over: a client still
  sending (headers that drip, a body past its deadline) saw "connection reset" instead of the 408 that says
  why. Here such a connection is half-closed after the answer, what still arrives is read and dropped, and it
  closes when the peer does, or LINGER_SECONDS later (nginx's lingering close).

The body's deadline is the body limit middleware's (api/body_limit.py): only the app reads the body."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
from typing import Any, cast

from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from qwen_image_editor.api.errors import error_body

log = logging.getLogger(__name__)

CAP_RETRY_AFTER_SECONDS = 2  # a slot frees as soon as any connection ends
CLOSE_GRACE_SECONDS = 10.0  # for a closed WebSocket without keep-alive pings
LINGER_SECONDS = 2.0  # for a client to read an answer that ended its request early, and close


def http_protocol(header_timeout_seconds: float, max_connections: int) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol with these limits (for `http=` of uvicorn.run and uvicorn.Config)."""
    return type(
        "LimitedHttpProtocol",
        (LimitedHttpProtocol,),
        {"header_timeout_seconds": header_timeout_seconds, "max_connections": max_connections},
    )


class LimitedHttpProtocol(HttpToolsProtocol):
    header_timeout_seconds = 10.0
    max_connections = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_concurrency = None  # uvicorn's own cap stays off: ours counts upgrades and says why
        self._header_timer: asyncio.TimerHandle | None = None
        self.mid_request = False  # part of a request has arrived and not all of it

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, _LingeringTransport(transport, self)))
        self._start_header_timer()  # a connection that never sends a byte is bounded too

    # -- the lingering close --------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if isinstance(self.transport, _LingeringTransport) and self.transport.lingering:
            return  # the rest of a request already answered: dropped
        super().data_received(data)

    def on_message_complete(self) -> None:
        self.mid_request = False
        super().on_message_complete()

    # -- the header deadline ------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.mid_request = True
        if self._header_timer is None:  # a later request on a kept-alive connection (the first kept its timer)
            self._start_header_timer()

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        if self._over_cap() and not self.parser.should_upgrade():
            answer, self.app = self.app, _at_capacity(self.max_connections)
            try:
                super().on_headers_complete()  # runs the 503 app instead of ours for this request only
            finally:
                self.app = answer
            return
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _start_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_seconds, self._headers_too_slow)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        log.info(
            "closed a connection from %s:%s whose request headers were not complete after %gs",
            *(self.client or ("-", 0)),
            self.header_timeout_seconds,
        )
        # With an answer still going out (a pipelined request stalled behind it), a 408 would garble it.
        if self.cycle is None or self.cycle.response_complete:
            detail = f"the request headers did not arrive within {self.header_timeout_seconds:g} seconds; send again"
            self.transport.write(_raw_answer(408, detail, "/"))
        self.transport.close()

    # -- the connection cap -------------------------------------------------------------------------
    def _over_cap(self) -> bool:
        # `connections` holds this one too; `tasks` are requests and WebSockets being served.
        return len(self.connections) > self.max_connections or len(self.tasks) >= self.max_connections

    def handle_websocket_upgrade(self) -> None:
        if self._over_cap():
            self.logger.warning("refused a WebSocket: at the connection limit (%d)", self.max_connections)
            self.transport.write(_raw_answer(503, _at_capacity_detail(self.max_connections), "/"))
            self.transport.close()
            return
        if isinstance(self.transport, _LingeringTransport):  # the WebSocket protocol takes the socket itself
            self.transport = self.transport.inner
        super().handle_websocket_upgrade()


class _LingeringTransport:
    """The HTTP connection's transport, whose close() in the middle of a request lingers: see the module's
    docstring. uvicorn closes from several places (an answer with `connection: close`, a parse error, its
    timers, shutdown); this catches them all. A close between requests is a plain one, so an idle kept-alive
    connection (at shutdown, say) does not wait for its client."""

    def __init__(self, transport: asyncio.Transport, protocol: LimitedHttpProtocol) -> None:
        self.inner = transport
        self._protocol = protocol
        self.lingering = False

    def close(self) -> None:
        if self.lingering or self.inner.is_closing():
            return
        if not self._protocol.mid_request or not self.inner.can_write_eof():
            close_soon(self.inner, self._protocol.loop, CLOSE_GRACE_SECONDS)
            return
        self.lingering = True
        self.inner.write_eof()  # the answer, then FIN; reading goes on (and drops) until the peer closes
        self._protocol.loop.call_later(LINGER_SECONDS, close_soon, self.inner, self._protocol.loop, CLOSE_GRACE_SECONDS)

    def is_closing(self) -> bool:
        return self.lingering or self.inner.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _at_capacity_detail(max_connections: int) -> str:
    return f"the server is at its connection limit ({max_connections}); retry shortly"


def _at_capacity(max_connections: int) -> Any:
    async def answer(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        logging.getLogger("uvicorn.error").warning("refused a request: at the connection limit (%d)", max_connections)
        path = str(scope.get("path", "/"))
        body = json.dumps(error_body(503, _at_capacity_detail(max_connections), path)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(CAP_RETRY_AFTER_SECONDS).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return answer


def _raw_answer(status: int, detail: str, path: str) -> bytes:
    """A whole HTTP/1.1 answer that closes its connection, written straight to the socket (no request cycle)."""
    phrase = {408: "Request Timeout", 503: "Service Unavailable"}[status]
    body = json.dumps(error_body(status, detail, path)).encode()
    retry = f"retry-after: {CAP_RETRY_AFTER_SECONDS}\r\n" if status == 503 else ""
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        f"{retry}connection: close\r\n\r\n"
    )
    return head.encode() + body


def close_soon(transport: asyncio.BaseTransport, loop: asyncio.AbstractEventLoop, grace: float) -> None:
    """Close; if bytes are still waiting for a peer that does not read, abort after `grace` seconds (a close
    alone waits for them to leave, which for such a peer is never)."""
    writer = cast(asyncio.WriteTransport, transport)
    writer.close()
    if writer.get_write_buffer_size() > 0:
        loop.call_later(grace, reset, writer)  # a no-op once the connection is gone


def reset(transport: asyncio.WriteTransport) -> None:
    """Drop the connection and what it still had to send, now, with a TCP reset. A plain abort frees our file
    descriptor, but the kernel would still hold the socket (and its unsent bytes) for minutes, probing a
    peer whose window stays shut; the reset frees it too, and tells the peer."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class LimitedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-io WebSocket (it pings, and closes a peer that does not answer in time), whose transport
    lets go within a grace period of being closed, sent bytes or not."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(cast(asyncio.Transport, _ClosingTransport(cast(asyncio.Transport, transport), self)))

    @property
    def close_grace_seconds(self) -> float:
        return self.ping_timeout if self.ping_timeout else CLOSE_GRACE_SECONDS


class _ClosingTransport:
    """The WebSocket's transport, whose close() also aborts it after the grace period when unsent bytes keep it
    open. uvicorn closes from several places (ping timeout, the app's end, its close timer, shutdown); this
    catches them all."""

    def __init__(self, transport: asyncio.Transport, protocol: LimitedWebSocketProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._abort_timer: asyncio.TimerHandle | None = None

    def close(self) -> None:
        self._transport.close()
        if self._abort_timer is None and self._transport.get_write_buffer_size() > 0:
            self._abort_timer = self._protocol.loop.call_later(self._protocol.close_grace_seconds, self._abort)

    def _abort(self) -> None:
        if self._protocol.disconnected:  # it did drain and close
            return
        log.info(
            "aborted a WebSocket from %s:%s that had not read what was sent to it %gs after it was closed",
            *(self._protocol.client or ("-", 0)),
            self._protocol.close_grace_seconds,
        )
        reset(self._transport)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
