"""Hostile or broken uploads each get a 4xx that says what is accepted, and the server stays healthy."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import zlib
from typing import Any

import httpx
import pytest

from qwen_image_editor.model_families import MOST_IMAGES
from tests.api.conftest import png_bytes, submit
from tests.live_server import LiveServer


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG file whose header claims `width` x `height` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def jpeg_bytes() -> bytes:
    return png_bytes(image_format="JPEG")


def post_raw(http: httpx.Client, files: dict[str, Any], config: str | None) -> httpx.Response:
    data = {"config": config} if config is not None else {}
    return http.post("/api/edit", files=files, data=data)


VALID_CONFIG = json.dumps({"prompt": "make it blue", "num_inference_steps": 2})


@pytest.mark.parametrize(
    ("files", "config", "status", "phrase"),
    [
        (
            {"image1": ("notes.png", b"just some text, not an image", "image/png")},
            VALID_CONFIG,
            415,
            "JPEG, PNG, WebP, TIFF or HEIC",
        ),
        ({"image1": ("cut.jpg", jpeg_bytes()[:300], "image/jpeg")}, VALID_CONFIG, 400, "damaged or incomplete"),
        (
            {"image1": ("bomb.png", png_declaring(50_000, 50_000), "image/png")},
            VALID_CONFIG,
            400,
            "the limit is 4,000,000",
        ),
        (
            {"image1": ("a.gif", b"GIF89a" + b"\0" * 64, "image/gif")},
            VALID_CONFIG,
            415,
            "JPEG, PNG, WebP, TIFF or HEIC",
        ),
        ({"image1": ("a.png", png_bytes(), "image/png")}, "{not json", 400, "not valid JSON"),
        ({"image1": ("a.png", png_bytes(), "image/png")}, "[1, 2]", 422, "JSON object"),
        (
            {"image1": ("a.png", png_bytes(), "image/png")},
            json.dumps({"prompt": "x", "num_inference_steps": 1}),
            422,
            "num_inference_steps",
        ),
        (
            {"image1": ("a.png", png_bytes(), "image/png")},
            json.dumps({"prompt": "x", "num_inference_steps": 500}),
            422,
            "num_inference_steps",
        ),
        ({"image1": ("a.png", png_bytes(), "image/png")}, json.dumps({"prompt": ""}), 422, "prompt"),
        (
            {"image1": ("a.png", png_bytes(), "image/png")},
            json.dumps({"prompt": "x", "true_cfg_scale": 99}),
            422,
            "true_cfg_scale",
        ),
        ({"image1": ("a.png", png_bytes(), "image/png")}, None, 422, "config"),
        ({"image2": ("a.png", png_bytes(), "image/png")}, VALID_CONFIG, 422, "image1"),
        ({"image1": ("a.png", png_bytes(4, 4), "image/png")}, VALID_CONFIG, 422, "at least 16 pixels"),
    ],
)
def test_bad_uploads_get_a_clear_4xx(
    server: LiveServer, files: dict[str, Any], config: str | None, status: int, phrase: str
) -> None:
    response = post_raw(server.http, files, config)
    assert response.status_code == status, response.text
    assert phrase in response.json()["detail"]
    assert server.http.get("/api/health").status_code == 200
    assert server.http.get("/api/jobs").json()["total"] == 0  # nothing half-accepted
    assert list(server.services.settings.jobs_dir.iterdir()) == []  # and no files left behind


def test_an_oversized_body_is_refused_with_413(server: LiveServer) -> None:
    big = b"\0" * (3 * 1024 * 1024)  # over the 2 MiB body cap of the test settings
    response = post_raw(server.http, {"image1": ("big.png", big, "image/png")}, VALID_CONFIG)
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert server.http.get("/api/health").status_code == 200


def test_an_oversized_chunked_body_is_refused_while_reading(server: LiveServer) -> None:
    boundary = "qieboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="config"\r\n\r\n{VALID_CONFIG}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="image1"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    sent = 0

    def body() -> Any:  # no Content-Length: the cap must hold while streaming
        nonlocal sent
        yield head
        for _ in range(64):
            sent += 64 * 1024
            yield b"\0" * (64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = server.http.post(
        "/api/edit", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 413
    assert server.http.get("/api/health").status_code == 200


@pytest.mark.parametrize("chunked", [False, True])
def test_an_async_client_sees_the_413_and_its_message(server: LiveServer, chunked: bool) -> None:
    """httpx.AsyncClient is still sending when the answer comes: the body is read on, so it gets the answer."""
    big = b"\0" * (6 * 1024 * 1024)  # three times the 2 MiB cap of the test settings

    async def upload() -> httpx.Response:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            if not chunked:
                return await client.post("/api/edit", files={"image1": ("big.png", big)}, data={"config": VALID_CONFIG})

            async def body() -> Any:  # no Content-Length: refused while reading
                yield b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
                for start in range(0, len(big), 64 * 1024):
                    yield big[start : start + 64 * 1024]

            multipart = {"Content-Type": "multipart/form-data; boundary=b"}
            return await client.post("/v1/images/edits", content=body(), headers=multipart)

    response = asyncio.run(upload())
    assert response.status_code == 413
    if chunked:
        assert "limit" in response.json()["error"]["message"]  # OpenAI's shape under /v1/
    else:
        assert "limit" in response.json()["detail"]
    assert server.http.get("/api/health").status_code == 200


def test_an_image_over_the_per_image_cap_is_413(server: LiveServer) -> None:
    padded = png_bytes() + b"\0" * (1024 * 1024 + 10)  # the test settings cap each image at 1 MiB
    response = post_raw(server.http, {"image1": ("a.png", padded, "image/png")}, VALID_CONFIG)
    assert response.status_code == 413
    assert "image1" in response.json()["detail"]


def test_exif_orientation_is_applied_and_metadata_stripped(server: LiveServer) -> None:
    from PIL import Image

    source = Image.new("RGB", (80, 40), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    exif[0x010F] = "SecretCam"
    buffer = io.BytesIO()
    source.save(buffer, format="JPEG", exif=exif.tobytes())
    response = submit(server.http, images=[buffer.getvalue()])
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    stored = server.http.get(f"/api/jobs/{job_id}/files/input_1.png")
    with Image.open(io.BytesIO(stored.content)) as image:
        assert image.size == (40, 80)  # upright
        assert not image.getexif()
        assert b"SecretCam" not in stored.content


def test_an_image_just_over_the_pixel_limit_is_refused_before_decoding(server: LiveServer) -> None:
    response = post_raw(server.http, {"image1": ("big.png", png_declaring(2500, 2000), "image/png")}, VALID_CONFIG)
    assert response.status_code == 400
    assert "2500x2000 = 5,000,000 pixels" in response.json()["detail"]


def test_a_full_disk_refuses_uploads_with_507_and_reads_keep_working(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def disk_full(*args: object, **kwargs: object) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(server.services.blobs, "save_input", disk_full)
    response = submit(server.http)
    assert response.status_code == 507 and "disk is full" in response.json()["detail"]
    assert server.http.get("/api/jobs").status_code == 200
    assert list(server.services.settings.jobs_dir.iterdir()) == []
    monkeypatch.undo()
    assert submit(server.http).status_code == 202  # recovers once space is back


def test_more_image_parts_than_any_model_takes_are_refused_unread(server: LiveServer) -> None:
    files = [(f"image{n}", (f"{n}.png", png_bytes(seed=n), "image/png")) for n in range(1, MOST_IMAGES + 4)]
    response = server.http.post("/api/edit", files=files, data={"config": VALID_CONFIG})
    assert response.status_code == 400
    # one over the most any model takes, and the region's mask (issue 20)
    assert f"Maximum number of files is {MOST_IMAGES + 2}" in response.json()["detail"]
    assert server.http.get("/api/jobs").json()["total"] == 0


@pytest.mark.parametrize(
    ("numbers", "detail"),
    [
        ((1, 2, 3, 4), "Qwen-Image-Edit-2511 takes 1 to 3 images, not 4"),
        ((1, 2, 3, 3), "image3 is sent twice"),
        ((1, 3), "image2 is missing"),
    ],
)
def test_image_parts_beyond_the_models_limit_twice_or_with_gaps_are_refused(
    server: LiveServer, numbers: tuple[int, ...], detail: str
) -> None:
    files = [(f"image{n}", (f"{n}.png", png_bytes(seed=n), "image/png")) for n in numbers]
    response = server.http.post("/api/edit", files=files, data={"config": VALID_CONFIG})
    assert response.status_code == 422 and detail in response.json()["detail"]
    assert server.http.get("/api/jobs").json()["total"] == 0


def test_an_oversized_config_field_is_refused(server: LiveServer) -> None:
    config = json.dumps({"prompt": "x" * 100_000})
    response = post_raw(server.http, {"image1": ("a.png", png_bytes(), "image/png")}, config)
    assert response.status_code == 400
    assert "exceeded maximum size" in response.json()["detail"].lower()
