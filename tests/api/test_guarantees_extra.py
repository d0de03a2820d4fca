"""GUARANTEES.md claims about the API that had no test of their own (issue 19, point 14): every route of the app
(not a hand-made list) fails closed, keys never ride in a URL, owners are isolated on every job route, what a
client may change is a known list, decoders judge by bytes, and an oversized body's connection is closed.

The map of every claim to its tests is tests/test_guarantees.py."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from starlette.routing import Mount
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from qwen_image_editor.api.access import PUBLIC_PATHS, PUBLIC_PREFIXES
from qwen_image_editor.api.app import create_app
from qwen_image_editor.settings import Settings
from tests.api.conftest import PATIENCE, make_settings, png_bytes, submit, wait_for
from tests.api.test_access import MISSING, Keyed, keyed_server, ws_messages
from tests.conftest import noise_image
from tests.live_server import LiveServer

# What anyone may reach on a server with keys: the liveness and readiness checks, the sign-in, the page.
PUBLIC = {"/", "/api/health", "/api/health/ready", "/api/session"}
# Everything a client may change. A new one must be weighed against GUARANTEES.md before it is added here:
# none may install models or plugins, name a path, or make the server fetch a URL (webhooks aside).
WRITES = {
    ("POST", "/api/edit"),
    ("POST", "/api/cleanup"),
    ("POST", "/api/jobs/{job_id}/cancel"),
    ("POST", "/api/jobs/{job_id}/undo-cancel"),  # owner only: tests/api/test_undo_and_cancel_all.py
    ("POST", "/api/jobs/cancel-queued"),  # the caller's own queued jobs only: the same file
    ("PUT", "/api/jobs/{job_id}/star"),
    ("DELETE", "/api/jobs/{job_id}/star"),
    ("DELETE", "/api/jobs/{job_id}"),
    ("POST", "/api/session"),
    ("DELETE", "/api/session"),
    ("POST", "/v1/images/edits"),
    ("POST", "/v1/images/generations"),
}
READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def app_routes(app: FastAPI) -> tuple[list[tuple[str, str]], list[str]]:
    """Every (method, path) of the app and every WebSocket path, through included routers."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)  # FastAPI >= 0.160 includes routers lazily
    routes = list(contexts(app.routes)) if contexts else list(app.routes)
    http, sockets = [], []
    for route in routes:
        if isinstance(getattr(route, "route", route), Mount):
            continue
        path, methods = route.path, getattr(route, "methods", None)
        if methods is None:
            sockets.append(path)
        else:
            http.extend((method, path) for method in sorted(methods) if method != "HEAD")
    return http, sockets


def first_word(url: str, **options: Any) -> tuple[str | bytes | None, int | None]:
    """A socket's first message, or None and its close code when it is closed instead."""
    with connect(url, open_timeout=PATIENCE, **options) as sock:
        try:
            return sock.recv(timeout=PATIENCE), None
        except ConnectionClosed:
            return None, sock.close_code


def concrete(path: str) -> str:
    return path.replace("{job_id}", MISSING).replace("{name}", "output_1.png")


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Keyed]:
    yield from keyed_server(tmp_path)


# -- Access ---------------------------------------------------------------------------------------------------


def test_with_keys_every_route_of_the_app_but_the_public_ones_needs_one(keyed: Keyed) -> None:
    assert set(PUBLIC_PATHS) == PUBLIC and PUBLIC_PREFIXES == ("/assets/",)  # the page's own files, nothing else
    http, sockets = app_routes(create_app(keyed.server.services.settings))
    assert ("POST", "/api/edit") in http and "/ws/{job_id}" in sockets  # the walk sees the included routers
    anonymous = keyed.client(None)
    for method, path in http:
        if path in PUBLIC:
            continue
        response = anonymous.request(method, concrete(path))
        assert response.status_code == 401, (method, path, response.status_code)
    for path in sockets:
        url = f"{keyed.server.ws_url}{concrete(path)}"
        assert first_word(url) == (None, 1008), path
        message, code = first_word(url, additional_headers={"X-API-Key": keyed.alice})
        assert message is not None or code not in (None, 1008), path  # with the key: heard, or 4404 (no such job)


def test_a_key_in_the_url_is_never_taken(keyed: Keyed) -> None:
    anonymous = keyed.client(None)
    for name in ("key", "api_key", "apikey", "token", "access_token", "x-api-key", "qie_session", "session"):
        assert anonymous.get("/api/jobs", params={name: keyed.alice}).status_code == 401, name
        assert anonymous.get("/api/session", params={name: keyed.alice}).json()["signed_in"] is False, name
        _, code = ws_messages(f"{keyed.server.ws_url}/ws?{name}={keyed.alice}")
        assert code == 1008, name
    assert keyed.client(keyed.alice).get("/api/jobs").status_code == 200  # the key itself is good


def test_another_keys_job_is_the_same_404_as_a_missing_one_on_the_star_and_zip_routes(keyed: Keyed) -> None:
    alice, bob = keyed.client(keyed.alice), keyed.client(keyed.bob)
    job_id = submit(alice, num_inference_steps=2, num_images=2).json()["job_id"]
    wait_for(alice, job_id, {"complete"})
    routes = [
        ("GET", f"/api/jobs/{job_id}/download.zip"),
        ("PUT", f"/api/jobs/{job_id}/star"),
        ("DELETE", f"/api/jobs/{job_id}/star"),
    ]
    for method, path in routes:
        foreign, absent = bob.request(method, path), bob.request(method, path.replace(job_id, MISSING))
        assert foreign.status_code == absent.status_code == 404, path
        assert foreign.json()["detail"].replace(job_id, "ID") == absent.json()["detail"].replace(MISSING, "ID"), path
        assert alice.request(method, path).status_code == 200, path
    assert alice.get(f"/api/jobs/{job_id}").json()["starred"] is False  # bob's star never reached it


def test_every_route_that_changes_anything_is_a_known_one(tmp_path: Path) -> None:
    http, _ = app_routes(create_app(make_settings(tmp_path)))
    writes = {(method, path) for method, path in http if method not in READ_METHODS}
    assert writes == WRITES, "a route that changes something was added or removed: weigh it against GUARANTEES.md"
    assert not [path for _, path in http if any(word in path for word in ("install", "plugin", "model", "url"))]


# -- Input ----------------------------------------------------------------------------------------------------


def encoded(image_format: str, seed: int) -> bytes:
    buffer = io.BytesIO()
    noise_image(64, 48, seed).save(buffer, format=image_format)
    return buffer.getvalue()


def test_jpeg_png_and_webp_are_taken(server: LiveServer) -> None:
    images = [encoded(image_format, seed) for seed, image_format in enumerate(("JPEG", "PNG", "WEBP"), start=1)]
    response = submit(server.http, images=images, num_inference_steps=2)
    assert response.status_code == 202, response.text
    job = wait_for(server.http, response.json()["job_id"], {"complete", "error"})
    assert job["status"] == "complete", job


def test_the_type_comes_from_the_bytes_not_the_name_or_content_type(server: LiveServer) -> None:
    config = json.dumps({"prompt": "make it blue", "num_inference_steps": 2})
    disguised = {
        "image1": ("holiday.gif", encoded("PNG", 1), "image/gif"),
        "image2": ("notes.txt", encoded("JPEG", 2), "text/plain"),
        "image3": ("photo", encoded("WEBP", 3), "application/octet-stream"),
    }
    accepted = server.http.post("/api/edit", files=disguised, data={"config": config})
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]
    stored = server.http.get(f"/api/jobs/{job_id}/files/input_2.png")
    assert stored.headers["content-type"] == "image/png" and stored.content.startswith(b"\x89PNG")
    gif = io.BytesIO()
    Image.new("RGB", (64, 48)).save(gif, format="GIF")
    dressed_up = {"image1": ("photo.png", gif.getvalue(), "image/png")}
    refused = server.http.post("/api/edit", files=dressed_up, data={"config": config})
    assert refused.status_code == 415 and "JPEG, PNG, WebP, TIFF or HEIC" in refused.json()["detail"]


# The start of an HEIF/HEIC file: an `ftyp` box with brand heic.
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 2000


def test_heic_is_refused_with_415(server: LiveServer) -> None:
    assert not [name for name in Settings.model_fields if "heic" in name or "heif" in name]  # nothing enables it
    response = submit(server.http, images=[HEIC])
    assert response.status_code == 415
    assert "JPEG, PNG, WebP, TIFF or HEIC" in response.json()["detail"]
    assert server.http.get("/api/jobs").json()["total"] == 0


def read_all(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def oversized_upload(port: int, declared: int, sent: int) -> bytes:
    """An upload declaring `declared` bytes, of which `sent` are sent; what comes back until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE) as sock:
        sock.sendall(
            f"POST /api/edit HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: {declared}\r\n\r\n".encode()
        )
        if sent:
            sock.sendall(b"\0" * sent)
        return read_all(sock)  # returns at the server's end of the connection (a hang fails by the timeout)


def test_an_oversized_body_is_answered_413_then_its_connection_is_closed(server: LiveServer) -> None:
    cap = server.services.settings.max_upload_bytes
    port = int(server.url.rsplit(":", 1)[1])
    # Up to 4x the cap, the whole body is read (and thrown away): the client gets to read the answer.
    drained = oversized_upload(port, 3 * cap, 3 * cap)
    head, _, body = drained.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"connection: close" in head.lower() and b"limit" in body
    # Beyond 4x nothing is read: the answer goes out at once, and the connection closes.
    at_once = oversized_upload(port, 5 * cap, 0)
    assert at_once.startswith(b"HTTP/1.1 413") and b"connection: close" in at_once.lower()
    assert server.http.get("/api/health").status_code == 200
    assert httpx.get(f"{server.url}/api/health", timeout=PATIENCE).status_code == 200
    assert submit(server.http, images=[png_bytes()]).status_code == 202  # and takes uploads
