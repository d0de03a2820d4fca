"""What one client, or many at once, may cost the server: decodes bounded in number and size, stalled bodies
answered 408, and clients that leave cost one INFO line (WebSocket watchers: test_bounded_websockets.py).

Nothing here counts on the machine's speed: decodes and jobs are held (an Event, the fake engine's step gate)
where a test needs them busy, and every wait is for the thing itself, with a deadline only a broken server
reaches."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from qwen_image_editor.application import uploads
from qwen_image_editor.imaging import STORED_INPUT_PIXELS, DecodedImage
from tests.api.conftest import PATIENCE, eventually, png_bytes, submit, wait_for
from tests.live_server import LiveServer


def solid(width: int, height: int, image_format: str = "PNG") -> bytes:
    """A real image of that size whose file is small (a solid colour compresses to almost nothing)."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, format=image_format)
    return buffer.getvalue()


class DecodeSpy:
    """Wraps the decoder's `decode_upload`: how many run at once, at most, and what each returned. With `hold`,
    each decode waits for that event first, keeping its slot: busy decoding for as long as the test needs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, hold: threading.Event | None = None) -> None:
        self.running = self.peak = 0
        self.results: list[DecodedImage] = []
        self._lock = threading.Lock()
        real = uploads.decode_upload

        def spying(*args: Any, **kwargs: Any) -> DecodedImage:
            with self._lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
            try:
                if hold is not None:
                    hold.wait(PATIENCE)
                result = real(*args, **kwargs)
                self.results.append(result)
                return result
            finally:
                with self._lock:
                    self.running -= 1

        monkeypatch.setattr(uploads, "decode_upload", spying)


def at_once(
    count: int,
    send: Callable[[httpx.Client], httpx.Response],
    url: str,
    *,
    release: threading.Event | None = None,
    release_after: int = 0,
) -> list[httpx.Response]:
    """`count` requests released together, each on its own connection; their responses in the order they came.
    With `release`: set it once `release_after` of them have been answered."""
    barrier = threading.Barrier(count)
    responses: list[httpx.Response] = []

    def one() -> None:
        with httpx.Client(base_url=url, timeout=4 * PATIENCE) as client:
            barrier.wait()
            responses.append(send(client))

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    try:
        if release is not None:
            eventually(lambda: len(responses) >= release_after, f"{release_after} of {count} requests answered")
    finally:
        if release is not None:
            release.set()
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
    # Not about the wait for a slot: a loaded machine may take many seconds for the eight decodes, two by two.
    server = start(
        max_image_pixels=40_000_000,
        max_upload_bytes=8 * 2**20,
        max_image_bytes=4 * 2**20,
        decode_wait_seconds=2 * PATIENCE,
    )
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
    decoding = threading.Event()  # the first upload keeps the only slot until the other two were answered
    spy = DecodeSpy(monkeypatch, hold=decoding)

    def send(client: httpx.Client) -> httpx.Response:
        return submit(client, [png_bytes()])

    responses = at_once(3, send, server.url, release=decoding, release_after=2)
    statuses = [r.status_code for r in responses]
    assert statuses == [503, 503, 202], [r.text for r in responses]  # both refused while the slot was busy
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
    sock = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE)
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
    started = time.monotonic()  # before sending: the server cannot have started waiting any earlier
    sock = start_upload(port, os.urandom(5000))
    answer = read_all(sock)  # returns once the server closes the connection
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"stopped arriving" in answer
    assert 0.4 < time.monotonic() - started < 15  # the setting's 0.5 s, not the default's 30 s
    sock.close()
    assert server.http.get("/api/health").status_code == 200


def test_a_slow_but_steady_upload_is_not_cut_off(start: Callable[..., LiveServer]) -> None:
    timeout = 1.5
    server = start(body_timeout_seconds=timeout)
    data = png_bytes()
    config = json.dumps({"prompt": "make it blue", "num_inference_steps": 2})
    body = (
        b'--xyz\r\nContent-Disposition: form-data; name="image1"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + data + b"\r\n--xyz\r\n"
        b'Content-Disposition: form-data; name="config"\r\n\r\n' + config.encode() + b"\r\n--xyz--\r\n"
    )
    piece = len(body) // 20 + 1

    def trickle() -> Iterator[bytes]:
        for offset in range(0, len(body), piece):
            time.sleep(0.1)  # far under the timeout each time (room for a loaded machine to be late), over it in all
            yield body[offset : offset + piece]

    started = time.monotonic()
    response = server.http.post(
        "/api/edit", content=trickle(), headers={"Content-Type": "multipart/form-data; boundary=xyz"}
    )
    assert response.status_code == 202, response.text
    assert time.monotonic() - started > timeout  # the whole body took longer than the timeout


def test_a_client_leaving_mid_upload_is_one_info_line(server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    uvicorn_errors = logging.getLogger("uvicorn.error")  # it does not propagate to the root logger
    uvicorn_errors.addHandler(caplog.handler)
    try:
        caplog.set_level(logging.INFO)
        port = int(server.url.rsplit(":", 1)[1])
        start_upload(port, os.urandom(20_000)).close()
        eventually(lambda: any("left during" in r.getMessage() for r in caplog.records), "the INFO line")
        assert server.http.get("/api/health").status_code == 200
    finally:
        uvicorn_errors.removeHandler(caplog.handler)
    lines = [r for r in caplog.records if "left during" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert "POST /api/edit" in lines[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], [r.getMessage() for r in caplog.records]
