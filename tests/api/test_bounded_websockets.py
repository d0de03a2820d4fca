"""What a WebSocket watcher may cost the server: watchers that stop reading are dropped without slowing the others,
and watchers that leave are let go. Nothing here counts on the machine's speed (see test_bounded_resources.py)."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.sync.client import ClientConnection, connect

from qwen_image_editor.api import serving
from qwen_image_editor.api.routes import ws
from qwen_image_editor.engine.fake import FakeEngine, StepGate
from qwen_image_editor.events.local import SUBSCRIBER_BUFFER
from tests.api.conftest import PATIENCE, SMALL_OUTPUT_PIXELS, eventually, submit, wait_for
from tests.api.test_bounded_resources import read_all
from tests.api.test_jobs_api import receive_until_closed
from tests.live_server import LiveServer


# -- WebSockets ---------------------------------------------------------------------------------------
def raw_websocket(port: int, path: str, receive_buffer: int | None = None) -> tuple[socket.socket, bytes]:
    """A hand-made WebSocket client offering compression; returns the socket and the handshake response,
    read byte by byte so that no frame after it is consumed."""
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)  # before connecting: the window
    sock.settimeout(PATIENCE)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n".encode()
    )
    response = b""
    while not response.endswith(b"\r\n\r\n"):
        response += sock.recv(1)
    return sock, response


def receive_exactly(sock: socket.socket, count: int) -> bytes:
    received = b""
    while len(received) < count:
        chunk = sock.recv(count - len(received))
        assert chunk, "the server closed the connection"
        received += chunk
    return received


def test_websockets_are_not_compressed_and_idle_ones_are_pinged(
    start: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving, "WS_PING_SECONDS", 0.3)
    server = start(worker_enabled=False)
    job_id = submit(server.http).json()["job_id"]  # stays queued: nothing to say for a while
    port = int(server.url.rsplit(":", 1)[1])
    sock, handshake = raw_websocket(port, f"/ws/{job_id}")
    assert handshake.startswith(b"HTTP/1.1 101")
    assert b"sec-websocket-extensions" not in handshake.lower()  # offered, declined
    opcodes = []
    deadline = time.monotonic() + PATIENCE
    while 0x9 not in opcodes and time.monotonic() < deadline:
        header = receive_exactly(sock, 2)
        opcodes.append(header[0] & 0x0F)
        length = header[1] & 0x7F
        length = int.from_bytes(receive_exactly(sock, 2), "big") if length == 126 else length
        receive_exactly(sock, length)
    assert 0x9 in opcodes  # a ping, after the snapshot (a text frame)
    sock.close()


# A job of the most steps a job may have: ~40 KB of progress messages, well over what a watcher's shrunken
# buffers hold (they are full after ~15 KB). The test lets it through BATCH steps at a time and reads the
# healthy watcher up to date in between, so that one never falls SUBSCRIBER_BUFFER events behind (which would
# cost it its oldest progress, by design) however slowly this machine runs it.
STEPS = 150
BATCH = 30
assert BATCH < SUBSCRIBER_BUFFER - 4  # with room for the job's status events


@dataclass
class Watched:
    """A job held before its first step, with two watchers subscribed: one that never reads (`stalled`) and
    one that does (`healthy`). `stalled_end` is the server's end of the stalled one's connection."""

    server: LiveServer
    engine: FakeEngine
    gate: StepGate
    job_id: str
    stalled: socket.socket
    stalled_end: WebSocketsSansIOProtocol
    healthy: ClientConnection
    heard: list[dict[str, Any]] = field(default_factory=list)  # what the healthy watcher received

    @property
    def steps(self) -> list[int]:
        return [m["progress"]["step"] for m in self.heard if m["type"] == "progress" and m["progress"]["step"]]

    def subscribers(self) -> int:
        return self.server.services.events.subscriber_count(self.job_id)

    def stalled_send_waits(self) -> bool:
        """Whether the server's send to the stalled watcher waits for room (its buffers are full)."""
        return not self.stalled_end.writable.is_set()

    def run_until(self, before_step: int) -> None:
        """Let the job run until it waits before `before_step` (past STEPS: to its end), the healthy watcher
        having heard every step so far (and, at the end, the final message)."""
        done = self.steps[-1] if self.steps else 0
        while done < min(before_step - 1, STEPS):
            stop = min(done + 1 + BATCH, before_step)
            held, self.gate = self.gate, self.engine.hold(before_step=stop)  # the next gate first, then the open
            held.open()
            if stop <= STEPS:
                self.gate.wait_held()
            done = min(stop - 1, STEPS)
            while not self.steps or self.steps[-1] < done:
                self._receive()
        if before_step > STEPS:
            while self.heard[-1]["type"] not in ("complete", "error"):
                self._receive()

    def _receive(self) -> None:
        self.heard.append(json.loads(self.healthy.recv(timeout=PATIENCE)))


@contextmanager
def stalled_and_healthy(start: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch) -> Iterator[Watched]:
    ends: dict[int, WebSocketsSansIOProtocol] = {}  # the server's end of each WebSocket, by the client's port
    real_connection_made = WebSocketsSansIOProtocol.connection_made

    def small_buffers(self: WebSocketsSansIOProtocol, transport: Any) -> None:
        # Loopback buffers hold megabytes; shrink ours so a few KB of unread messages fill them.
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        transport.set_write_buffer_limits(high=1024)
        real_connection_made(self, transport)
        ends[transport.get_extra_info("peername")[1]] = self

    monkeypatch.setattr(WebSocketsSansIOProtocol, "connection_made", small_buffers)
    engine = FakeEngine(0, output_pixels=SMALL_OUTPUT_PIXELS)
    server = start(engine=engine)
    gate = engine.hold(before_step=1)
    job_id = submit(server.http, num_inference_steps=STEPS).json()["job_id"]
    gate.wait_held()  # running, and no step reported yet: both watchers will hear every one
    port = int(server.url.rsplit(":", 1)[1])
    stalled, handshake = raw_websocket(port, f"/ws/{job_id}", receive_buffer=4096)
    assert handshake.startswith(b"HTTP/1.1 101")
    with connect(f"{server.ws_url}/ws/{job_id}", open_timeout=PATIENCE) as healthy:
        watched = Watched(server, engine, gate, job_id, stalled, ends[stalled.getsockname()[1]], healthy)
        watched.heard.append(json.loads(healthy.recv(timeout=PATIENCE)))
        assert watched.heard[0]["type"] == "snapshot"
        eventually(lambda: watched.subscribers() == 2, "both watchers subscribed")
        try:
            yield watched
        finally:
            watched.gate.open()
            stalled.close()


def test_a_stalled_websocket_reader_slows_neither_another_watcher_nor_the_job(
    start: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws, "SEND_TIMEOUT_SECONDS", 600.0)  # not dropped during this test: stuck throughout
    with stalled_and_healthy(start, monkeypatch) as watched:
        watched.run_until(before_step=STEPS - BATCH)
        eventually(watched.stalled_send_waits, "the stalled watcher's buffers full")
        # While a send to the stalled watcher waits, the job runs on and the other watcher hears every step:
        watched.run_until(before_step=STEPS)
        assert watched.stalled_send_waits() and watched.subscribers() == 2  # (it waited all along)
        watched.run_until(before_step=STEPS + 1)
        assert watched.heard[-1]["type"] == "complete"
        assert watched.steps == list(range(1, STEPS + 1))  # the healthy watcher missed nothing
        messages = receive_until_closed(watched.healthy, PATIENCE)
        assert messages == [] and watched.healthy.close_code == 1000
        watched.stalled.close()  # the stalled one leaves at last: the server lets it go
        eventually(lambda: watched.subscribers() == 0, "the stalled watcher let go once it left")


def test_a_stalled_websocket_reader_is_closed_while_the_job_runs_and_the_others_miss_nothing(
    start: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(ws, "SEND_TIMEOUT_SECONDS", 0.5)
    with stalled_and_healthy(start, monkeypatch) as watched:
        watched.run_until(before_step=STEPS)  # its buffers are long full; the job waits before its last step
        eventually(lambda: watched.subscribers() == 1, "the stalled watcher dropped")
        assert wait_for(watched.server.http, watched.job_id, {"processing"})["status"] == "processing"
        watched.run_until(before_step=STEPS + 1)
        assert watched.heard[-1]["type"] == "complete"
        assert watched.steps == list(range(1, STEPS + 1))  # the healthy watcher missed nothing
        assert receive_until_closed(watched.healthy, PATIENCE) == [] and watched.healthy.close_code == 1000
        assert read_all(watched.stalled)  # what was buffered, then the end: the server closed it
    assert any("stopped reading" in r.getMessage() for r in caplog.records)


def test_a_watcher_that_leaves_a_quiet_job_is_let_go(start: Callable[..., LiveServer]) -> None:
    server = start(worker_enabled=False)
    job_id = submit(server.http).json()["job_id"]  # queued for good: the server never has news for it
    with connect(f"{server.ws_url}/ws/{job_id}", open_timeout=PATIENCE) as watcher:
        assert json.loads(watcher.recv(timeout=PATIENCE))["type"] == "snapshot"
        assert server.services.events.subscriber_count(job_id) == 1
    eventually(lambda: server.services.events.subscriber_count(job_id) == 0, "the watcher let go")
