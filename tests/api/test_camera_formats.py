"""TIFF and HEIC uploads (what cameras and phones write): accepted within the same pixel and memory bounds as
JPEG, PNG and WebP, reduced to the stored size, stripped of their metadata; a pixel bomb is refused unread."""

from __future__ import annotations

import io
import struct
from typing import Any

import pytest
from PIL import Image, ImageFile

from qwen_image_editor.application import uploads
from qwen_image_editor.errors import InvalidImage
from qwen_image_editor.imaging import ACCEPTED_MEDIA_TYPES, STORED_INPUT_PIXELS
from tests.api.conftest import submit, wait_for
from tests.conftest import noise_image
from tests.live_server import LiveServer


def encoded(image: Image.Image, image_format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def tiff_declaring(width: int, height: int) -> bytes:
    """A tiny uncompressed greyscale TIFF whose header declares `width` x `height` pixels (a pixel bomb: the
    strip holds 16 bytes)."""
    entries = [  # tag, type (3 SHORT, 4 LONG), value
        (256, 4, width),
        (257, 4, height),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 8 + 2 + 9 * 12 + 4),  # the strip right after the IFD
        (277, 3, 1),
        (278, 4, height),
        (279, 4, 16),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        packed = struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, 1) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + bytes(16)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The size of every image whose pixels get decoded."""
    loaded: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def recording_load(self: ImageFile.ImageFile) -> Any:
        loaded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    return loaded


def test_the_page_is_told_tiff_and_heic_are_accepted_and_the_stored_size(server: LiveServer) -> None:
    limits = server.http.get("/api/limits").json()
    assert {"image/tiff", "image/heic", "image/heif"} <= set(limits["accepted_types"])
    assert limits["accepted_types"] == list(ACCEPTED_MEDIA_TYPES)
    assert limits["stored_input_pixels"] == STORED_INPUT_PIXELS
    assert limits["native_pixels"] == 1024 * 1024 and limits["size_multiple"] == 16
    assert limits["max_output_side"] == 4096


@pytest.mark.parametrize("image_format", ["TIFF", "HEIF"])
def test_a_large_camera_file_is_reduced_to_the_stored_size_and_loses_its_metadata(image_format: str) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"
    # A smooth picture: the HEIF encoder takes ~10x longer on noise (minutes on a busy machine), and only the
    # size and the metadata matter here.
    ramp = Image.linear_gradient("L").resize((2400, 1600))
    source = Image.merge(
        "RGB", [ramp, ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT), ramp.transpose(Image.Transpose.FLIP_TOP_BOTTOM)]
    )
    data = encoded(source, image_format, exif=exif.tobytes())
    decoded = uploads.decode_upload(io.BytesIO(data), max_pixels=40_000_000, fit_pixels=STORED_INPUT_PIXELS)
    assert decoded.original_size == (2400, 1600) and decoded.was_reduced
    width, height = decoded.image.size
    assert width * height <= STORED_INPUT_PIXELS and abs(width / height - 1.5) < 0.01
    assert decoded.image.mode == "RGB"
    assert not decoded.image.getexif() and set(decoded.image.info) <= {"icc_profile"}


def test_a_multi_page_tiff_gives_its_first_page() -> None:
    first, second = Image.new("RGB", (64, 48), (250, 0, 0)), Image.new("RGB", (96, 96), (0, 0, 250))
    data = encoded(first, "TIFF", save_all=True, append_images=[second])
    with Image.open(io.BytesIO(data)) as opened:
        assert getattr(opened, "n_frames", 1) == 2
    decoded = uploads.decode_upload(io.BytesIO(data), max_pixels=40_000_000)
    assert decoded.image.size == (64, 48)
    assert decoded.image.getpixel((10, 10)) == (250, 0, 0)


@pytest.mark.parametrize(("width", "height"), [(8000, 8000), (100_000, 100_000)])
def test_a_tiff_pixel_bomb_is_refused_before_any_pixel_is_decoded(
    loads: list[tuple[int, int]], width: int, height: int
) -> None:
    with pytest.raises(InvalidImage, match=r"the limit is 40,000,000") as refused:
        uploads.decode_upload(io.BytesIO(tiff_declaring(width, height)), max_pixels=40_000_000, name="bomb.tif")
    assert "bomb.tif" in str(refused.value)
    assert loads == []


def test_a_heic_beyond_the_pixel_limit_is_refused_before_decoding(loads: list[tuple[int, int]]) -> None:
    data = encoded(noise_image(320, 240, seed=1), "HEIF")
    with pytest.raises(InvalidImage, match=r"320x240 = 76,800 pixels; the limit is 50,000"):
        uploads.decode_upload(io.BytesIO(data), max_pixels=50_000, name="phone.heic")
    assert loads == []


@pytest.mark.parametrize("image_format", ["TIFF", "HEIF"])
def test_tiff_and_heic_uploads_make_a_job(server: LiveServer, image_format: str) -> None:
    data = encoded(noise_image(64, 48, seed=2), image_format)
    response = submit(server.http, [data])
    assert response.status_code == 202, response.text
    wait_for(server.http, response.json()["job_id"], {"complete"})


def test_a_tiff_bomb_upload_is_refused_with_what_to_do(server: LiveServer) -> None:
    response = submit(server.http, [tiff_declaring(100_000, 100_000)])
    assert response.status_code in (400, 413, 422), response.text
    assert "Downscale it" in response.text


@pytest.mark.parametrize(
    ("orientation", "red_corner"), [(1, "top-left"), (3, "bottom-right"), (6, "top-right"), (8, "bottom-left")]
)
def test_a_tiff_is_turned_upright_once_and_reduced_in_its_upright_shape(orientation: int, red_corner: str) -> None:
    # Pillow turns a TIFF upright itself as it loads it: the decoder must not turn it again, nor squash it.
    source = Image.new("RGB", (300, 200), (10, 20, 30))
    source.paste((250, 0, 0), (0, 0, 50, 50))  # a red top-left corner, as stored
    data = encoded(source, "TIFF", tiffinfo={0x0112: orientation})
    decoded = uploads.decode_upload(io.BytesIO(data), max_pixels=40_000_000, fit_pixels=30_000)
    turned = orientation in (6, 8)
    assert decoded.original_size == ((200, 300) if turned else (300, 200))
    width, height = decoded.image.size
    assert (height > width) == turned and width * height <= 30_000 + max(width, height)  # short side rounded up
    corners = {
        "top-left": (2, 2),
        "top-right": (width - 3, 2),
        "bottom-left": (2, height - 3),
        "bottom-right": (width - 3, height - 3),
    }
    reds = [where for where, xy in corners.items() if decoded.image.getpixel(xy)[0] > 200]  # type: ignore[index]
    assert reds == [red_corner]
