"""Transparency (issue 18, point 6): a model that reads and writes alpha (Qwen-Image-2.1) keeps an upload's
alpha from the stored input to the result, its thumbnail included; JPEG, which has none, has it on white and
the job says so. The Edit models get uploads flattened on white, as before."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from qwen_image_editor.cli import app
from qwen_image_editor.edit_request import OutputFormat
from qwen_image_editor.engine import families
from qwen_image_editor.engine.capabilities import capabilities_of
from qwen_image_editor.engine.devices import plan_device
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.models import resolve_model
from qwen_image_editor.imaging import (
    decode_upload,
    encode_image,
    encode_stored_input,
    has_transparency,
    make_thumbnail,
    read_embedded_settings,
)
from qwen_image_editor.services import build_services
from tests.api.conftest import make_settings, png_bytes, wait_for
from tests.conftest import LOADED_MACHINE_TIMEOUT, noise_image
from tests.live_server import LiveServer, live_server

WIDTH, HEIGHT = 64, 48


def cut_out(width: int = WIDTH, height: int = HEIGHT, seed: int = 0) -> Image.Image:
    """Noise whose left half is fully transparent and whose right half fades from half to fully opaque."""
    image = noise_image(width, height, seed).convert("RGBA")
    alpha = np.zeros((height, width), dtype=np.uint8)
    alpha[:, width // 2 :] = np.linspace(128, 255, width - width // 2, dtype=np.uint8)
    image.putalpha(Image.fromarray(alpha))
    return image


def encoded(image: Image.Image, image_format: str = "PNG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def alpha_of(image: Image.Image) -> np.ndarray:
    return np.asarray(image.getchannel("A"))


def run_edit(http: httpx.Client, images: list[bytes], **config: Any) -> dict[str, Any]:
    files = [(f"image{n}", (f"{n}.png", data, "image/png")) for n, data in enumerate(images, start=1)]
    config.setdefault("prompt", "put the cut-out on a beach")
    config.setdefault("num_inference_steps", 2)
    response = http.post("/api/edit", files=files, data={"config": json.dumps(config)})
    assert response.status_code == 202, response.text
    return wait_for(http, response.json()["job_id"], {"complete", "error"})


def fetched(http: httpx.Client, url: str) -> Image.Image:
    response = http.get(url)
    assert response.status_code == 200, response.status_code
    return opened(response.content)


# -- through a fake Qwen-Image-2.1 server ----------------------------------------------------------------------
def test_an_rgba_upload_keeps_its_alpha_to_a_png_result_and_its_thumbnail(image_21: LiveServer) -> None:
    sent = cut_out()
    job = run_edit(image_21.http, [encoded(sent)], output_format="png")
    assert job["status"] == "complete" and job["flattened"] is False
    stored = fetched(image_21.http, job["inputs"][0])
    assert stored.mode == "RGBA" and np.array_equal(alpha_of(stored), alpha_of(sent))
    result = fetched(image_21.http, job["outputs"][0])
    assert result.format == "PNG" and result.mode == "RGBA"
    alpha = alpha_of(result)
    assert alpha.min() == 0 and alpha.max() >= 250  # the cut-out's shape: a transparent left, an opaque right
    assert alpha[:, : alpha.shape[1] // 3].max() == 0 and alpha[:, -4:].min() >= 240
    assert len(np.unique(np.asarray(result.convert("RGB")))) > 100  # still the photo-like picture
    thumbnail = fetched(image_21.http, job["thumbnail"])
    assert thumbnail.format == "WEBP" and thumbnail.mode == "RGBA" and has_transparency(thumbnail)


def test_a_webp_result_keeps_alpha_and_its_settings(image_21: LiveServer) -> None:
    job = run_edit(image_21.http, [encoded(cut_out())], output_format="webp", seed=5)
    assert job["status"] == "complete" and job["flattened"] is False
    download = image_21.http.get(f"/api/jobs/{job['job_id']}/download")
    result = opened(download.content)
    assert result.format == "WEBP" and result.mode == "RGBA" and alpha_of(result).min() == 0
    settings = read_embedded_settings(io.BytesIO(download.content))
    assert settings is not None and settings["seed"] == 5 and settings["prompt"] == "put the cut-out on a beach"


def test_a_jpeg_result_is_flattened_on_white_and_the_job_says_so(image_21: LiveServer) -> None:
    job = run_edit(image_21.http, [encoded(cut_out())], output_format="jpeg")
    assert job["status"] == "complete" and job["flattened"] is True
    result = fetched(image_21.http, job["outputs"][0])
    assert result.format == "JPEG" and result.mode == "RGB"
    transparent_part = np.asarray(result)[:, : result.width // 3]
    assert transparent_part.min() >= 245  # on white (JPEG's rounding aside)
    thumbnail = fetched(image_21.http, job["thumbnail"])  # shows what the JPEG shows
    assert thumbnail.mode == "RGB" and np.asarray(thumbnail)[:, : thumbnail.width // 3].min() >= 240
    again = image_21.http.get(f"/api/jobs/{job['job_id']}").json()
    assert again["flattened"] is True
    listed = image_21.http.get("/api/jobs").json()["jobs"]
    assert [entry["flattened"] for entry in listed if entry["job_id"] == job["job_id"]] == [True]


def test_nothing_is_flattened_without_transparency(image_21: LiveServer) -> None:
    """An RGB upload gives an RGB result: JPEG loses nothing, and the job does not claim it did."""
    job = run_edit(image_21.http, [png_bytes(seed=3)], output_format="jpeg")
    assert job["status"] == "complete" and job["flattened"] is False
    png = run_edit(image_21.http, [png_bytes(seed=3)], output_format="png")
    assert fetched(image_21.http, png["outputs"][0]).mode == "RGB"
    assert fetched(image_21.http, png["inputs"][0]).mode == "RGB"


def test_the_alpha_of_image_1_shapes_the_result_of_several(image_21: LiveServer) -> None:
    job = run_edit(image_21.http, [encoded(cut_out()), png_bytes(seed=4)], output_format="png")
    assert [fetched(image_21.http, url).mode for url in job["inputs"]] == ["RGBA", "RGB"]
    assert alpha_of(fetched(image_21.http, job["outputs"][0])).min() == 0


# -- a 2511 server: flattened on white as before ---------------------------------------------------------------
def test_an_edit_model_gets_rgba_uploads_flattened_on_white(edit_2511: LiveServer) -> None:
    job = run_edit(edit_2511.http, [encoded(cut_out())], output_format="png")
    assert job["status"] == "complete" and job["flattened"] is False
    stored = fetched(edit_2511.http, job["inputs"][0])
    assert stored.mode == "RGB"
    assert np.asarray(stored)[:, : WIDTH // 2].min() == 255  # the transparent half is white
    assert fetched(edit_2511.http, job["outputs"][0]).mode == "RGB"
    assert fetched(edit_2511.http, job["thumbnail"]).mode == "RGB"


# -- decoding, storing and encoding ----------------------------------------------------------------------------
def test_la_and_a_palette_with_transparency_decode_to_rgba_when_alpha_is_kept() -> None:
    grey = cut_out().convert("LA")
    decoded = decode_upload(io.BytesIO(encoded(grey)), max_pixels=10**6, keep_alpha=True).image
    assert decoded.mode == "RGBA" and np.array_equal(alpha_of(decoded), alpha_of(grey))
    palette = Image.new("P", (WIDTH, HEIGHT), 1)
    palette.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    palette.paste(0, (0, 0, WIDTH // 2, HEIGHT))
    data = encoded(palette, transparency=0)
    decoded = decode_upload(io.BytesIO(data), max_pixels=10**6, keep_alpha=True).image
    assert decoded.mode == "RGBA" and alpha_of(decoded)[:, : WIDTH // 2].max() == 0
    assert alpha_of(decoded)[:, WIDTH // 2 :].min() == 255
    flat = decode_upload(io.BytesIO(data), max_pixels=10**6).image  # without keep_alpha: on white
    assert flat.mode == "RGB" and np.asarray(flat)[:, : WIDTH // 2].min() == 255
    rgb = decode_upload(io.BytesIO(png_bytes()), max_pixels=10**6, keep_alpha=True).image
    assert rgb.mode == "RGB"  # nothing to keep


def test_a_reduced_rotated_rgba_upload_keeps_alpha_and_loses_its_metadata() -> None:
    sent = cut_out(400, 300)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90° clockwise
    exif[0x010E] = "secret description"
    data = encoded(sent, "WEBP", exif=exif.tobytes(), lossless=True)
    upload = decode_upload(io.BytesIO(data), max_pixels=10**6, fit_pixels=100 * 75, keep_alpha=True)
    image = upload.image
    assert image.mode == "RGBA" and upload.original_size == (300, 400) and upload.was_reduced
    assert image.width * image.height <= 100 * 75 and image.height > image.width  # upright
    assert "exif" not in image.info and set(image.info) <= {"icc_profile"}
    alpha = alpha_of(image)
    assert alpha[: image.height // 3].max() == 0 and alpha[-2:].min() >= 120  # the transparent side is now on top
    stored = opened(encode_stored_input(image))
    assert stored.mode == "RGBA" and np.array_equal(alpha_of(stored), alpha)
    assert set(stored.info) <= {"icc_profile", "dpi", "gamma"}
    with pytest.raises(Exception, match="limit is 100"):
        decode_upload(io.BytesIO(data), max_pixels=100, keep_alpha=True)


@pytest.mark.parametrize("output_format", list(OutputFormat))
def test_results_and_thumbnails_keep_alpha_except_in_jpeg(output_format: OutputFormat) -> None:
    image = cut_out()
    result = opened(encode_image(image, output_format))
    assert result.mode == ("RGB" if output_format is OutputFormat.JPEG else "RGBA")
    thumbnail = opened(make_thumbnail(image, output_format))
    assert thumbnail.mode == result.mode
    opaque = image.copy()
    opaque.putalpha(255)
    assert not has_transparency(opaque) and has_transparency(image)


# -- the real pipeline, on Qwen-Image-2.1's tiny random twin ---------------------------------------------------
@pytest.mark.model
@pytest.mark.timeout(LOADED_MACHINE_TIMEOUT)
def test_rgba_in_gives_rgba_out_through_the_tiny_21_pipeline(
    tmp_path: Path, tiny_21_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(families, "QWEN_IMAGE_21_RESOLUTION", 320)  # test_model_21's fast resolution
    settings = make_settings(tmp_path, model=str(tiny_21_folder))
    assert capabilities_of(settings.model, settings.models_dir).alpha
    engine = DiffusersEngine(resolve_model(settings.model, settings.models_dir), plan_device("cpu"))
    with live_server(build_services(settings, engine=engine)) as server:
        sent = cut_out(128, 128)
        job = run_edit(server.http, [encoded(sent)], output_format="png", true_cfg_scale=1.0, seed=7)
        assert job["status"] == "complete", job["error"]
        stored = fetched(server.http, job["inputs"][0])
        assert stored.mode == "RGBA" and np.array_equal(alpha_of(stored), alpha_of(sent))
        assert fetched(server.http, job["outputs"][0]).mode == "RGBA"  # the VAE decodes alpha, and it is kept
        assert fetched(server.http, job["thumbnail"]).mode == "RGBA"


@pytest.fixture(scope="module")
def tiny_21_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models") / "tiny-2.1"
    result = CliRunner().invoke(app, ["make-tiny-model", str(folder), "--flavour", "2.1"])
    assert result.exit_code == 0, result.output
    return folder
