"""What one client, or many at once, may cost the server: decodes bounded in number and size, stalled bodies
answered 408, clients that leave cost one INFO line, WebSocket watchers that stop reading are dropped
without slowing the others, and watchers that leave are let go."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.sync.client import connect

from qwen_image_editor.api import serving
from qwen_image_editor.api.routes import ws
from qwen_image_editor.application import uploads
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.imaging import STORED_INPUT_PIXELS, DecodedImage
from qwen_image_editor.services import build_services
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings, png_bytes, submit, wait_for
from tests.api.test_jobs_api import receive_until_closed
from tests.live_server import LiveServer, live_server


def solid(width: int, height: int, image_format: str = "PNG") -> bytes:
    """A real image of that size whose file is small (a solid colour compresses to almost nothing)."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start a live server with these settings (fake engine); stopped at the end of the test."""
    stack: list[Any] = []

    def started(engine: FakeEngine | None = None, **overrides: Any) -> LiveServer:
        services = build_services(
            make_settings(tmp_path, **overrides), engine=engine or FakeEngine(0.02, output_pixels=SMALL_OUTPUT_PIXELS)
        )
        running = live_server(services)
        stack.append(running)
        return running.__enter__()

    yield started
    for running in reversed(stack):
        running.__exit__(None, None, None)


class DecodeSpy:
    """Wraps the decoder's `decode_upload`: how many run at once, at most, and what each returned."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, delay: float = 0.0) -> None:
        self.running = self.peak = 0
        self.results: list[DecodedImage] = []
        self._lock = threading.Lock()
        real = uploads.decode_upload

        def spying(*args: Any, **kwargs: Any) -> DecodedImage:
            with self._lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
            try:
                time.sleep(delay)
                result = real(*args, **kwargs)
                self.results.append(result)
                return result
            finally:
                with self._lock:
                    self.running -= 1

        monkeypatch.setattr(uploads, "decode_upload", spying)


def at_once(count: int, send: Callable[[httpx.Client], httpx.Response], url: str) -> list[httpx.Response]:
    """`count` requests released together, each on its own connection."""
    barrier = threading.Barrier(count)
    responses: list[httpx.Response] = []

    def one() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            barrier.wait()
            responses.append(send(client))

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def peak_rss_reset() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        return True
    except OSError:
        return False


def proc_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} in /proc/self/status")


# -- decoding -----------------------------------------------------------------------------------------
def test_concurrent_large_uploads_decode_two_at_a_time_within_the_memory_bound(
    start: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start(max_image_pixels=40_000_000, max_upload_bytes=8 * 2**20, max_image_bytes=4 * 2**20)
    spy = DecodeSpy(monkeypatch)
    data = solid(4000, 3000)  # 12 MP: 36 MB of pixels from a ~40 KB file
    measured = peak_rss_reset()
    idle = proc_mib("VmRSS")
    responses = at_once(8, lambda client: submit(client, [data]), server.url)
    assert [r.status_code for r in responses] == [202] * 8, [r.text for r in responses]
    assert spy.peak <= 2  # QIE_MAX_CONCURRENT_DECODES
    assert all(result.image.width * result.image.height <= STORED_INPUT_PIXELS for result in spy.results)
    if measured:  # eight at full size, as before, peaked above 1 GB here
        assert proc_mib("VmHWM") - idle < 400, proc_mib("VmHWM") - idle


def test_uploads_beyond_the_decoding_slots_wait_briefly_then_get_503_with_retry_after(
    start: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start(max_concurrent_decodes=1, decode_wait_seconds=0.2)
    spy = DecodeSpy(monkeypatch, delay=1.5)
    responses = at_once(3, lambda client: submit(client, [png_bytes()]), server.url)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202, 503, 503], [r.text for r in responses]
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["Retry-After"] == "5" and "try again" in busy.json()["detail"]
    assert spy.peak == 1


def test_a_large_jpeg_is_decoded_at_reduced_scale_and_stored_reduced(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import ImageFile

    loaded: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def recording_load(self: ImageFile.ImageFile) -> Any:
        loaded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    decoded = uploads.decode_upload(io.BytesIO(solid(6000, 4000, "JPEG")), max_pixels=40_000_000, fit_pixels=2**20)
    assert decoded.original_size == (6000, 4000) and decoded.was_reduced
    assert decoded.image.width * decoded.image.height <= 2**20 + decoded.image.width
    assert loaded and loaded[0][0] * loaded[0][1] <= 4 * 2**20  # decoded at 1/4 scale, not at 24 MP


def test_a_reduced_photo_is_turned_upright_and_loses_its_metadata() -> None:
    source = Image.new("RGB", (3000, 2000), (10, 20, 30))
    source.paste((250, 0, 0), (0, 0, 300, 300))  # a red top-left corner, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90° clockwise: the red corner ends top-right
    exif[0x010F] = "SecretCam"
    buffer = io.BytesIO()
    source.save(buffer, format="JPEG", exif=exif.tobytes())
    decoded = uploads.decode_upload(buffer, max_pixels=40_000_000, fit_pixels=2**20)
    assert decoded.original_size == (2000, 3000)  # upright, as the user sees it
    width, height = decoded.image.size
    assert height > width and width * height <= 2**20 + height
    red, green, _ = decoded.image.getpixel((width - 5, 5))  # type: ignore[misc]
    assert red > 200 and green < 50
    assert not decoded.image.getexif() and "exif" not in decoded.image.info


def test_a_large_upload_is_stored_reduced_and_exact_size_output_keeps_its_original_size(server: LiveServer) -> None:
    response = submit(server.http, [solid(3000, 1000)], keep_input_size=True)  # 3 MP
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    job = wait_for(server.http, job_id, {"complete"})
    with Image.open(io.BytesIO(server.services.blobs.read_bytes(job_id, "input_1.png"))) as stored:
        assert stored.width * stored.height <= STORED_INPUT_PIXELS and stored.width == 3 * stored.height
    assert server.services.store.get_job(job_id).original_sizes == [(3000, 1000)]
    with Image.open(io.BytesIO(server.http.get(job["outputs"][0]).content)) as output:
        assert output.size == (3000, 1000)


# -- request bodies -----------------------------------------------------------------------------------
def start_upload(port: int, sent: bytes, declared: int = 100_000) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        f"POST /api/edit HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: {declared}\r\n\r\n".encode()
        + b'--xyz\r\nContent-Disposition: form-data; name="image1"; filename="a.png"\r\n\r\n'
        + sent
    )
    return sock


def read_all(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_stalled_upload_is_answered_408_and_its_connection_closed(start: Callable[..., LiveServer]) -> None:
    server = start(body_timeout_seconds=0.5)
    port = int(server.url.rsplit(":", 1)[1])
    sock = start_upload(port, os.urandom(5000))
    started = time.monotonic()
    answer = read_all(sock)  # returns once the server closes the connection
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"stopped arriving" in answer
    assert 0.4 < time.monotonic() - started < 5
    sock.close()
    assert server.http.get("/api/health").status_code == 200


def test_a_slow_but_steady_upload_is_not_cut_off(start: Callable[..., LiveServer]) -> None:
    server = start(body_timeout_seconds=0.5)
    data = png_bytes()
    config = json.dumps({"prompt": "make it blue", "num_inference_steps": 2})

    def trickle() -> Iterator[bytes]:
        body = (
            b'--xyz\r\nContent-Disposition: form-data; name="image1"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + data + b"\r\n--xyz\r\n"
            b'Content-Disposition: form-data; name="config"\r\n\r\n' + config.encode() + b"\r\n--xyz--\r\n"
        )
        for offset in range(0, len(body), len(body) // 4 + 1):
            time.sleep(0.3)  # under the timeout each time, over it in all
            yield body[offset : offset + len(body) // 4 + 1]

    response = server.http.post(
        "/api/edit", content=trickle(), headers={"Content-Type": "multipart/form-data; boundary=xyz"}
    )
    assert response.status_code == 202, response.text


def test_a_client_leaving_mid_upload_is_one_info_line(server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    uvicorn_errors = logging.getLogger("uvicorn.error")  # it does not propagate to the root logger
    uvicorn_errors.addHandler(caplog.handler)
    try:
        caplog.set_level(logging.INFO)
        port = int(server.url.rsplit(":", 1)[1])
        start_upload(port, os.urandom(20_000)).close()
        deadline = time.monotonic() + 5
        while not any("left during" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.http.get("/api/health").status_code == 200
    finally:
        uvicorn_errors.removeHandler(caplog.handler)
    lines = [r for r in caplog.records if "left during" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert "POST /api/edit" in lines[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], [r.getMessage() for r in caplog.records]


# -- WebSockets ---------------------------------------------------------------------------------------
def raw_websocket(port: int, path: str, receive_buffer: int | None = None) -> tuple[socket.socket, bytes]:
    """A hand-made WebSocket client offering compression; returns the socket and the handshake response,
    read byte by byte so that no frame after it is consumed."""
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)  # before connecting: the window
    sock.settimeout(10)
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
    deadline = time.monotonic() + 3
    while 0x9 not in opcodes and time.monotonic() < deadline:
        header = sock.recv(2)
        opcodes.append(header[0] & 0x0F)
        length = header[1] & 0x7F
        length = int.from_bytes(sock.recv(2), "big") if length == 126 else length
        while length:
            length -= len(sock.recv(length))
    assert 0x9 in opcodes  # a ping, after the snapshot (a text frame)
    sock.close()


def test_a_stalled_websocket_reader_is_closed_without_slowing_another(
    start: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(ws, "SEND_TIMEOUT_SECONDS", 0.5)
    real_connection_made = WebSocketsSansIOProtocol.connection_made

    def small_buffers(self: WebSocketsSansIOProtocol, transport: Any) -> None:
        # Loopback buffers hold megabytes; shrink ours so a few KB of unread messages fill them.
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        transport.set_write_buffer_limits(high=1024)
        real_connection_made(self, transport)

    monkeypatch.setattr(WebSocketsSansIOProtocol, "connection_made", small_buffers)
    server = start(engine=FakeEngine(0.02, output_pixels=SMALL_OUTPUT_PIXELS))
    port = int(server.url.rsplit(":", 1)[1])
    job_id = submit(server.http, num_inference_steps=150).json()["job_id"]  # ~3 s
    stalled, handshake = raw_websocket(port, f"/ws/{job_id}", receive_buffer=4096)
    assert handshake.startswith(b"HTTP/1.1 101")
    events = server.services.events
    with connect(f"{server.ws_url}/ws/{job_id}", open_timeout=5) as healthy:
        dropped_while_running = False
        messages: list[dict[str, Any]] = []
        while not messages or messages[-1]["type"] not in ("complete", "error"):
            messages.append(json.loads(healthy.recv(timeout=10)))
            if events.subscriber_count(job_id) == 1 and messages[-1]["type"] == "progress":
                dropped_while_running = True
        received_final_at = time.time()
        messages += receive_until_closed(healthy, 5)
    assert dropped_while_running  # the stalled one was let go while the job still ran
    steps = [m["progress"]["step"] for m in messages if m["type"] == "progress" and m["progress"]["step"]]
    assert steps == list(range(1, 151))  # the healthy watcher missed nothing
    finished = wait_for(server.http, job_id, {"complete"})["finished_at"]
    assert received_final_at - datetime.fromisoformat(finished).timestamp() < 1.0  # and was not held up
    stalled.settimeout(5)
    assert read_all(stalled)  # what was buffered, then the end: the server closed it
    stalled.close()
    assert any("stopped reading" in r.getMessage() for r in caplog.records)


def test_a_watcher_that_leaves_a_quiet_job_is_let_go(start: Callable[..., LiveServer]) -> None:
    server = start(worker_enabled=False)
    job_id = submit(server.http).json()["job_id"]  # queued for good: the server never has news for it
    with connect(f"{server.ws_url}/ws/{job_id}", open_timeout=5) as watcher:
        assert json.loads(watcher.recv(timeout=5))["type"] == "snapshot"
        assert server.services.events.subscriber_count(job_id) == 1
    deadline = time.monotonic() + 3
    while server.services.events.subscriber_count(job_id) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.services.events.subscriber_count(job_id) == 0
