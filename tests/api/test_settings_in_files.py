"""Results carry the settings that made them (PNG text chunks, JPEG/WebP EXIF UserComment), and download
names say what and which seed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from qwen_image_editor.api.routes.jobs import prompt_slug
from qwen_image_editor.edit_request import OutputFormat
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.imaging import encode_image, read_embedded_settings
from qwen_image_editor.services import build_services
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings, submit, wait_for
from tests.conftest import noise_image
from tests.live_server import LiveServer, live_server


@pytest.mark.parametrize(("output_format", "extension"), [("png", "png"), ("jpeg", "jpg"), ("webp", "webp")])
def test_settings_read_back_from_a_download(server: LiveServer, output_format: str, extension: str) -> None:
    job_id = submit(
        server.http, prompt="Make the sky stormy", seed=42, num_inference_steps=3, true_cfg_scale=2.5,
        output_format=output_format, negative_prompt="blurry, ünïcode",
    ).json()["job_id"]  # fmt: skip
    wait_for(server.http, job_id, {"complete"})
    download = server.http.get(f"/api/jobs/{job_id}/download")
    assert download.headers["content-disposition"] == f'attachment; filename="make-the-sky-stormy_seed42.{extension}"'
    settings = read_embedded_settings(io.BytesIO(download.content))
    assert settings == {
        "format": "qie-settings/1",
        "prompt": "Make the sky stormy",
        "negative_prompt": "blurry, ünïcode",
        "seed": 42,
        "steps": 3,
        "guidance": 2.5,
        "model": server.services.engine.model_id,
        "loras": [],
        "lightning": False,
    }
    opened = Image.open(io.BytesIO(download.content))
    if output_format == "png":
        assert opened.info["parameters"].startswith("Make the sky stormy\nNegative prompt: blurry, ünïcode\nSteps: 3")
        assert set(opened.info) <= {"qie-settings", "parameters", "dpi", "gamma"}  # nothing else carried over


@pytest.mark.parametrize("output_format", list(OutputFormat))
def test_settings_read_back_from_an_rgba_result(output_format: OutputFormat) -> None:
    """A result with alpha (Qwen-Image-2.1) carries them the same way: RGBA in PNG and WebP, flattened in JPEG."""
    image = noise_image(48, 32).convert("RGBA")
    image.putalpha(Image.linear_gradient("L").resize(image.size))
    settings = {
        "format": "qie-settings/1", "prompt": "cut out the cat", "negative_prompt": " ", "seed": 7, "steps": 8,
        "guidance": 1.0, "model": "Qwen/Qwen-Image-2.1", "loras": [], "lightning": True,
    }  # fmt: skip
    data = encode_image(image, output_format, settings)
    assert read_embedded_settings(io.BytesIO(data)) == settings
    opened = Image.open(io.BytesIO(data))
    assert opened.mode == ("RGB" if output_format is OutputFormat.JPEG else "RGBA")
    if output_format is OutputFormat.PNG:
        assert opened.info["parameters"].startswith("cut out the cat\nNegative prompt: \nSteps: 8, CFG scale: 1,")
        assert opened.info["parameters"].endswith("Model: Qwen/Qwen-Image-2.1, Lightning: true")


def test_qie_embed_settings_0_turns_it_off(tmp_path: Path) -> None:
    services = build_services(
        make_settings(tmp_path, embed_settings=False),
        engine=FakeEngine(step_seconds=0.01, output_pixels=SMALL_OUTPUT_PIXELS),
    )
    with live_server(services) as server:
        job_id = submit(server.http, num_inference_steps=2).json()["job_id"]
        wait_for(server.http, job_id, {"complete"})
        download = server.http.get(f"/api/jobs/{job_id}/download")
        assert read_embedded_settings(io.BytesIO(download.content)) is None


def test_download_names_are_safe_everywhere() -> None:
    assert prompt_slug("Make the sky STORMY!") == "make-the-sky-stormy"
    assert prompt_slug("Café: «rouge» / ../../etc") == "cafe-rouge-etc"
    assert prompt_slug("日本語だけ") == "edited"
    long = prompt_slug("word " * 100)
    assert len(long) <= 60 and not long.endswith("-")
