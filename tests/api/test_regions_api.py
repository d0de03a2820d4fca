"""Edit only where you point (issue 20), on a live server with the fake engine: a masked job's pixels outside the
grown and feathered region are image 1's exactly, at image 1's exact size; small regions in big photos are
edited on a crop; bad masks are refused; OpenAI's `mask` means "transparent = edit"."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from PIL import Image, ImageDraw

from qwen_image_editor.engine.base import EditResult
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.imaging import read_embedded_settings
from qwen_image_editor.model_families import DEFAULT_FAMILY, FAMILIES
from qwen_image_editor.regions import grow
from qwen_image_editor.services import build_services
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings, png_bytes, wait_for
from tests.live_server import LiveServer, live_server


def encoded(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def box_mask(size: tuple[int, int], box: tuple[int, int, int, int], mode: str = "L") -> Image.Image:
    mask = Image.new(mode, size, 0)
    ImageDraw.Draw(mask).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=255 if mode == "L" else None)
    return mask


def gradient_photo(width: int, height: int) -> bytes:
    """A big picture that compresses well (so it fits the upload caps), with every pixel distinct enough."""
    ys, xs = np.mgrid[0:height, 0:width]
    pixels = np.stack([(xs * 255 // width), (ys * 255 // height), ((xs + ys) % 256)], axis=-1).astype(np.uint8)
    return encoded(Image.fromarray(pixels, "RGB"))


def submit_masked(http: httpx.Client, image: bytes, mask: bytes, **config: Any) -> httpx.Response:
    config.setdefault("prompt", "make the hat red")
    config.setdefault("num_inference_steps", 2)
    files = {"image1": ("in.png", image, "image/png"), "mask": ("mask.png", mask, "image/png")}
    return http.post("/api/edit", files=files, data={"config": json.dumps(config)})


def result_of(http: httpx.Client, job: dict[str, Any]) -> Image.Image:
    answer = http.get(job["outputs"][0])
    assert answer.status_code == 200
    return Image.open(io.BytesIO(answer.content)).convert("RGB")


def outside(mask: Image.Image, reach: int) -> np.ndarray:
    """Where no pixel may change: further than `reach` (grow + feather) from anything the mask marks."""
    return np.asarray(grow(mask, reach)) == 0


def test_outside_pixels_are_image_1s_exactly_at_its_size(server: LiveServer) -> None:
    size = (641, 479)
    image = png_bytes(*size, seed=3)
    mask = box_mask(size, (300, 200, 380, 260))
    answer = submit_masked(server.http, image, encoded(mask), keep_input_size=False)
    assert answer.status_code == 202, answer.text
    job = wait_for(server.http, answer.json()["job_id"], {"complete", "error"})
    assert job["status"] == "complete", job["error"]
    result = result_of(server.http, job)
    assert result.size == size  # image 1's, though keep_input_size is off
    original = np.asarray(Image.open(io.BytesIO(image)).convert("RGB"))
    edited = np.asarray(result)
    keep = outside(mask, 8 + 16)
    assert (edited[keep] == original[keep]).all()
    inside = np.asarray(mask) == 255
    assert (edited[inside] != original[inside]).any()
    assert job["region"]["approach"] == "latent-mask" and job["region"]["crop_box"] is not None
    # the mask is a job file, shown in the view, in the API's meaning at image 1's size
    stored = server.http.get(job["mask"])
    assert stored.status_code == 200 and stored.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(stored.content)).size == size
    settings = read_embedded_settings(io.BytesIO(server.http.get(job["outputs"][0]).content))
    assert settings is not None and (settings["mask_grow"], settings["mask_feather"]) == (8, 16)


def test_a_job_without_a_mask_has_none_in_its_view(server: LiveServer) -> None:
    answer = server.http.post(
        "/api/edit",
        files={"image1": ("in.png", png_bytes(), "image/png")},
        data={"config": json.dumps({"prompt": "x", "num_inference_steps": 2})},
    )
    assert answer.status_code == 202 and answer.json()["mask"] is None and answer.json()["region"] is None


@pytest.fixture
def big_server(tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(
        tmp_path,
        max_image_pixels=16_000_000,
        max_image_bytes=16 * 1024 * 1024,
        max_upload_bytes=40 * 1024 * 1024,
    )
    services = build_services(settings, engine=FakeEngine(step_seconds=0.0, output_pixels=SMALL_OUTPUT_PIXELS))
    with live_server(services) as running:
        yield running


def test_a_small_region_in_a_big_photo_is_edited_on_a_crop_and_stitched(big_server: LiveServer) -> None:
    size = (4000, 3000)
    image = gradient_photo(*size)
    mask = box_mask(size, (1900, 1400, 2100, 1550))  # 200x150
    answer = submit_masked(big_server.http, image, encoded(mask))
    assert answer.status_code == 202, answer.text
    job = wait_for(big_server.http, answer.json()["job_id"], {"complete", "error"})
    assert job["status"] == "complete", job["error"]
    result = result_of(big_server.http, job)
    assert result.size == size
    original = np.asarray(Image.open(io.BytesIO(image)).convert("RGB"))
    edited = np.asarray(result)
    keep = outside(mask, 8 + 16)
    assert (edited[keep] == original[keep]).all()
    inside = np.asarray(mask) == 255
    assert (edited[inside] != original[inside]).any()
    region = job["region"]
    left, top, right, bottom = region["crop_box"]
    assert left <= 1900 - 24 and top <= 1400 - 24 and right >= 2100 + 24 and bottom >= 1550 + 24
    assert (right - left) * (bottom - top) < 0.4 * size[0] * size[1]
    width, height = region["working_size"]
    assert width * height <= FAMILIES[DEFAULT_FAMILY].native_pixels
    # image 1 was kept at its full size (inputs are otherwise stored reduced to ~2 MP)
    stored = big_server.http.get(job["inputs"][0])
    assert Image.open(io.BytesIO(stored.content)).size == size


@pytest.mark.parametrize(
    ("mask", "says"),
    [
        (encoded(Image.new("L", (64, 48), 0)), "marks nothing"),
        (encoded(Image.new("L", (64, 48), 255)), "marks the whole image"),
        (b"this is not an image", "not a JPEG, PNG, WebP, TIFF or HEIC"),
    ],
)
def test_bad_masks_get_a_422_saying_what_to_send(server: LiveServer, mask: bytes, says: str) -> None:
    answer = submit_masked(server.http, png_bytes(), mask)
    assert answer.status_code == 422, answer.text
    assert says in answer.json()["detail"]
    assert server.http.get("/api/jobs").json()["total"] == 0  # nothing kept


def test_a_mask_without_image_1_or_with_a_size_is_refused(server: LiveServer) -> None:
    mask = encoded(box_mask((64, 48), (10, 10, 20, 20)))
    answer = server.http.post(
        "/api/edit",
        files={"mask": ("mask.png", mask, "image/png")},
        data={"config": json.dumps({"prompt": "x"})},
    )
    assert answer.status_code == 422
    answer = submit_masked(server.http, png_bytes(), mask, output_size=[32, 32])
    assert answer.status_code == 422 and "image 1's exact size" in answer.json()["detail"]


def test_openai_masks_edit_where_they_are_transparent(server: LiveServer) -> None:
    size = (64, 48)
    image = png_bytes(*size, seed=5)
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    ImageDraw.Draw(mask).rectangle((40, 30, 59, 43), fill=(0, 0, 0, 0))  # transparent: edit here
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-anything", max_retries=0, timeout=30)
    result = client.images.edit(
        image=("in.png", image, "image/png"),
        mask=("mask.png", encoded(mask), "image/png"),
        prompt="a red ball",
        extra_body={"steps": 2},
    )
    edited = np.asarray(Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json or ""))).convert("RGB"))
    assert edited.shape[:2] == (48, 64)
    original = np.asarray(Image.open(io.BytesIO(image)).convert("RGB"))
    marked = Image.fromarray((255 - np.asarray(mask.getchannel("A"))).astype(np.uint8), "L")
    keep = outside(marked, 8 + 16)
    assert keep.any() and (edited[keep] == original[keep]).all()
    assert (edited[np.asarray(marked) == 255] != original[np.asarray(marked) == 255]).any()
    job = server.http.get("/api/jobs").json()["jobs"][0]
    stored = Image.open(io.BytesIO(server.http.get(job["mask"]).content))
    assert np.asarray(stored)[35, 45] == 255 and np.asarray(stored)[5, 5] == 0  # kept in the API's meaning


def test_openai_bad_masks_get_a_400(server: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-anything", max_retries=0, timeout=30)
    opaque = encoded(Image.new("RGBA", (64, 48), (0, 0, 0, 255)))
    with pytest.raises(openai.BadRequestError, match="marks nothing"):
        client.images.edit(image=("in.png", png_bytes(), "image/png"), mask=("m.png", opaque, "image/png"), prompt="x")


class _ReportingEngine(FakeEngine):
    """Reports how it held the model to the region, as the diffusers engine does (EditResult.region_approach)."""

    def edit(self, *args: Any, **kwargs: Any) -> EditResult:
        result = super().edit(*args, **kwargs)
        return replace(result, region_approach="held-another-way" if kwargs.get("region") is not None else None)


def test_the_job_records_the_approach_the_engine_reports(tmp_path: Path) -> None:
    services = build_services(make_settings(tmp_path), engine=_ReportingEngine(step_seconds=0.0))
    with live_server(services) as server:
        size = (64, 48)
        answer = submit_masked(server.http, png_bytes(*size), encoded(box_mask(size, (10, 10, 20, 20))))
        assert answer.status_code == 202 and answer.json()["region"]["approach"] == "latent-mask"  # the plan
        job = wait_for(server.http, answer.json()["job_id"], {"complete", "error"})
        assert job["status"] == "complete" and job["region"]["approach"] == "held-another-way"  # as it ran
        assert job["region"]["working_size"] == answer.json()["region"]["working_size"]
