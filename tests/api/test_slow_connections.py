"""Slow connections are bounded (issue 19, point 4), against a real uvicorn server on a real port with the
options `qie serve` runs with: headers that drip are answered 408 and closed after QIE_HEADER_TIMEOUT_SECONDS;
a body that drips gets 408 by QIE_BODY_DEADLINE_SECONDS however steadily its bytes arrive; a request past
QIE_MAX_CONNECTIONS gets a 503 that says why; a WebSocket that never reads is closed, also once its buffers
are full.

No test measures how long anything took: the limits are set small, and each test waits (at most PATIENCE)
for the outcome itself, keeping its client busy meanwhile where a quiet client would prove less."""

from __future__ import annotations

import asyncio
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from qwen_image_editor.api.serving import uvicorn_options
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_services
from tests.api.conftest import PATIENCE, SMALL_OUTPUT_PIXELS, eventually, make_settings, submit
from tests.api.test_bounded_resources import read_all, start_upload
from tests.api.test_bounded_websockets import raw_websocket
from tests.live_server import LiveServer, free_port, live_server

TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8  # linux/tcp_states.h


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start a live server with these settings (fake engine, worker off); `uvicorn` overrides its options."""
    stack: list[Any] = []

    def started(uvicorn: dict[str, Any] | None = None, **overrides: Any) -> LiveServer:
        settings = make_settings(tmp_path, worker_enabled=False, **overrides)
        services = build_services(settings, engine=FakeEngine(0.02, output_pixels=SMALL_OUTPUT_PIXELS))
        running = live_server(services, **(uvicorn or {}))
        stack.append(running)
        return running.__enter__()

    yield started
    for running in reversed(stack):
        running.__exit__(None, None, None)


def port_of(server: LiveServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def drip_until_answered(sock: socket.socket, drops: Iterator[bytes]) -> bytes:
    """Send the next drop every 0.1 s until the server answers, then read until it closes the connection."""
    deadline = time.monotonic() + PATIENCE
    while not select.select([sock], [], [], 0.1)[0]:
        assert time.monotonic() < deadline, "no answer while dripping"
        sock.sendall(next(drops))
    return read_all(sock)


def header_lines() -> Iterator[bytes]:
    number = 0
    while True:
        number += 1
        yield f"X-Drip-{number}: {'x' * 10}\r\n".encode()


@pytest.mark.parametrize("kept_alive", [False, True], ids=["first request", "later request, kept alive"])
def test_headers_that_drip_are_answered_408_and_the_connection_closed(
    start: Callable[..., LiveServer], kept_alive: bool
) -> None:
    server = start(header_timeout_seconds=1)
    sock = socket.create_connection(("127.0.0.1", port_of(server)), timeout=PATIENCE)
    host = f"Host: 127.0.0.1:{port_of(server)}\r\n"
    if kept_alive:  # one whole request and its answer first: the deadline holds for the next one too
        sock.sendall(f"GET /api/health HTTP/1.1\r\n{host}\r\n".encode())
        first = b""
        while b"\r\n\r\n" not in first or not first.rstrip().endswith(b"}"):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first[:200]
    sock.sendall(f"GET /api/health HTTP/1.1\r\n{host}".encode())
    answer = drip_until_answered(sock, header_lines())  # a header line every 0.1 s, never the blank line
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request headers did not arrive within 1 seconds" in answer
    sock.close()
    assert server.http.get("/api/health").status_code == 200


def test_a_connection_that_sends_nothing_is_answered_408_and_closed(start: Callable[..., LiveServer]) -> None:
    server = start(header_timeout_seconds=1)
    sock = socket.create_connection(("127.0.0.1", port_of(server)), timeout=PATIENCE)
    answer = read_all(sock)  # returns once the server closes it
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    sock.close()


def test_a_body_that_drips_gets_408_by_the_overall_deadline_though_bytes_keep_arriving(
    start: Callable[..., LiveServer],
) -> None:
    # The stall timer (PATIENCE) cannot fire while a byte arrives every 0.1 s: only the deadline can end it.
    server = start(body_timeout_seconds=PATIENCE, body_deadline_seconds=1)
    sock = start_upload(port_of(server), b"\x89PNG", declared=1_000_000)
    answer = drip_until_answered(sock, iter(lambda: b"x", None))
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request body did not arrive within 1 seconds" in answer
    assert b"connection: close" in answer.lower()
    sock.close()
    assert server.http.get("/api/health").status_code == 200


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_client_still_sending_when_the_408_goes_out_reads_it(start: Callable[..., LiveServer], part: str) -> None:
    # Closing a socket with unread bytes sends a reset, which would drop the answer before the client read it:
    # here the client never stops sending, so bytes are always unread when the server gives up on it.
    server = start(
        header_timeout_seconds=1, body_timeout_seconds=PATIENCE, body_deadline_seconds=1, max_upload_bytes=2**30
    )
    port = port_of(server)
    if part == "headers":
        sock = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
        sock.sendall(f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
        drops = (line * 20 for line in header_lines())
    else:
        sock = start_upload(port, b"\x89PNG", declared=2**30 - 2**20)
        drops = iter(lambda: b"x" * 65536, None)  # faster than the server reads
    answer = b""
    deadline = time.monotonic() + PATIENCE
    while True:  # until the server's orderly end (EOF), sending until the answer begins; a reset raises here
        assert time.monotonic() < deadline, f"no end of the answer while sending: {answer[:200]!r}"
        if select.select([sock], [], [], 0.001)[0]:
            if not (chunk := sock.recv(65536)):
                break
            answer += chunk
        elif not answer:
            sock.send(next(drops))
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    sock.close()


def test_requests_past_the_connection_cap_get_503_saying_why(start: Callable[..., LiveServer]) -> None:
    server = start(max_connections=3, header_timeout_seconds=PATIENCE * 4)
    port = port_of(server)
    held = [socket.create_connection(("127.0.0.1", port), timeout=PATIENCE) for _ in range(3)]
    for sock in held:
        sock.sendall(b"GET /api/health HTTP/1.1\r\n")  # headers not yet complete: each holds its slot

    def request(raw: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE) as sock:
            sock.sendall(raw)
            return read_all(sock)

    plain = f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    answers: list[bytes] = []

    def refused_one() -> bool:  # the held connections count once the server has accepted them
        answers.append(request(plain))
        return answers[-1].startswith(b"HTTP/1.1 503")

    eventually(refused_one, "a 503")
    refused = answers[-1]
    assert b"the server is at its connection limit (3); retry shortly" in refused
    assert b"retry-after: 2" in refused.lower()
    websocket, handshake = raw_websocket(port, "/ws/anything")
    assert handshake.startswith(b"HTTP/1.1 503"), handshake
    assert b"connection limit (3)" in read_all(websocket)
    websocket.close()
    for sock in held:
        sock.close()
    eventually(lambda: request(plain).startswith(b"HTTP/1.1 200"), "a slot free again")


def tcp_state(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def let_go(sock: socket.socket) -> bool:
    """Whether the server has let go of this connection (its FIN or RST arrived), found without reading."""
    return tcp_state(sock) in (TCP_CLOSE_WAIT, TCP_CLOSE)


needs_tcp_info = pytest.mark.skipif(not hasattr(socket, "TCP_INFO"), reason="TCP_INFO is Linux's")
QUICK_PINGS = {"ws_ping_interval": 0.3, "ws_ping_timeout": 0.3}


@needs_tcp_info
def test_a_websocket_that_never_reads_nor_pongs_is_closed(start: Callable[..., LiveServer]) -> None:
    server = start(uvicorn=QUICK_PINGS)
    job_id = submit(server.http).json()["job_id"]  # stays queued: the socket is quiet but for pings
    sock, handshake = raw_websocket(port_of(server), f"/ws/{job_id}", receive_buffer=4096)
    assert handshake.startswith(b"HTTP/1.1 101"), handshake
    eventually(lambda: let_go(sock), "the server closed a WebSocket that never answered its pings")
    eventually(lambda: server.services.events.subscriber_count(job_id) == 0, "its watcher let go")
    sock.close()


async def flood(scope: Scope, receive: Receive, send: Send) -> None:
    """A WebSocket that sends 64 KB messages for as long as it may: its peer's buffers fill, then ours."""
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        await send({"type": "websocket.send", "bytes": b"\0" * 65536})


@contextmanager
def serving(app: Any, **options: Any) -> Iterator[int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        eventually(lambda: server.started, "the server started")
        yield port
    finally:
        server.should_exit = True
        thread.join(15)


@needs_tcp_info
def test_a_websocket_that_never_reads_is_closed_also_when_its_buffers_are_full() -> None:
    # Closing a transport waits for its unsent bytes to leave; to a peer that never reads they never do. The
    # FIN queues behind them, so the only way this client's socket leaves ESTABLISHED is the server's RST.
    with serving(flood, **{**uvicorn_options(), **QUICK_PINGS}) as port:
        sock, handshake = raw_websocket(port, "/", receive_buffer=4096)
        assert handshake.startswith(b"HTTP/1.1 101"), handshake
        eventually(lambda: tcp_state(sock) == TCP_CLOSE, "the server aborted a WebSocket whose buffers were full")
        sock.close()


def test_the_defaults_bound_every_slow_connection() -> None:
    options = uvicorn_options()
    protocol: Any = options["http"]
    assert protocol.header_timeout_seconds == 10 and protocol.max_connections == 1000
    assert options["ws_ping_interval"] and options["ws_ping_timeout"]
    assert asyncio.Protocol in protocol.__mro__
