"""Live previews: the latent-to-RGB projection, its rate limit, and previews from the real pipeline."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine import preview
from qwen_image_editor.engine.base import StepProgress
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.fake import FakeEngine, model_size
from qwen_image_editor.engine.preview import (
    MAX_SIDE,
    WAN21_RGB_BIAS,
    WAN21_RGB_FACTORS,
    LatentPreviewer,
    PreviewRate,
    latent_grid,
)
from tests.conftest import noise_image


def pack(latents: torch.Tensor) -> torch.Tensor:
    """(16, H, W) -> (1, H/2 * W/2, 64), exactly as the diffusers Qwen-Image pipelines pack their latents."""
    from diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus import QwenImageEditPlusPipeline

    channels, height, width = latents.shape
    packed: torch.Tensor = QwenImageEditPlusPipeline._pack_latents(latents[None], 1, channels, height, width)
    return packed


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data), formats=["WEBP"])
    image.load()
    return image


def test_the_rate_lets_a_preview_through_at_most_every_interval() -> None:
    now = [0.0]
    rate = PreviewRate(0.25, clock=lambda: now[0])
    seen = []
    for tick in range(10):  # a step every 0.1 s
        now[0] = tick * 0.1
        seen.append(rate.due())
    assert seen == [True, False, False, True, False, False, True, False, False, True]


@pytest.mark.parametrize(("tokens", "aspect", "grid"), [(64 * 64, 1.0, (64, 64)), (82 * 50, 1312 / 800, (50, 82))])
def test_the_latent_grid_follows_the_aspect(tokens: int, aspect: float, grid: tuple[int, int]) -> None:
    assert latent_grid(tokens, aspect) == grid
    assert latent_grid(tokens, 1 / aspect) == grid[::-1]


def test_unpacked_latents_project_to_the_wan21_colours_where_they_were() -> None:
    latents = torch.zeros(16, 16, 24)
    latents[2, 8:14, 12:20] = 1.0  # one channel lit in one patch of the latent image
    previewer = LatentPreviewer(aspect_ratio=24 / 16, rate=PreviewRate(0))
    shown = previewer.after_step(0, pack(latents), sigmas=None)
    assert shown is not None and (shown.width, shown.height) == (24, 16)
    rgb = np.asarray(decoded(shown.data), dtype=np.float64)
    expected = (np.array(WAN21_RGB_FACTORS[2]) + np.array(WAN21_RGB_BIAS) + 1) * 127.5
    background = (np.array(WAN21_RGB_BIAS) + 1) * 127.5
    assert np.abs(rgb[11, 16] - expected).max() < 8  # WebP is lossy, but not by this much
    assert np.abs(rgb[2, 3] - background).max() < 8


def test_the_preview_shows_the_models_guess_of_the_clean_result_not_the_noise() -> None:
    clean, noise = torch.randn(16, 8, 8), torch.randn(16, 8, 8)
    sigmas = torch.tensor([1.0, 0.75, 0.5, 0.0])
    x = [pack((1 - s) * clean + s * noise) for s in sigmas.tolist()]  # flow matching: x_t = (1 - s) x0 + s n
    estimate = LatentPreviewer._estimate_clean(1, x[2], x[1], sigmas)
    assert torch.allclose(estimate, pack(clean), atol=1e-5)


def test_previews_are_small_and_capped_on_the_long_side() -> None:
    previewer = LatentPreviewer(aspect_ratio=2.0, rate=PreviewRate(0))
    shown = previewer.after_step(0, pack(torch.randn(16, 200, 400)), sigmas=None)  # a 3200x1600 result
    assert shown is not None and max(shown.width, shown.height) == MAX_SIDE
    assert shown.media_type == "image/webp" and len(shown.data) < 64 * 1024


def test_a_preview_that_fails_never_fails_the_edit() -> None:
    previewer = LatentPreviewer(aspect_ratio=1.0, rate=PreviewRate(0))
    step = StepProgress(step=1, total=2, elapsed=0.1)
    assert previewer.attach(step, 0, torch.zeros(1, 16, 3), scheduler=None) == step  # not 64 channels
    assert previewer.attach(step, 1, pack(torch.zeros(16, 4, 4)), scheduler=None) == step  # stays off after


@pytest.mark.usefixtures("fast_area")
def test_the_tiny_pipeline_sends_a_changing_preview_at_every_step(
    edit_plus_engine: DiffusersEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preview, "MIN_INTERVAL_SECONDS", 0.0)
    steps: list[StepProgress] = []
    request = EditRequest(prompt="make it snow", num_inference_steps=3, seed=1)
    result = edit_plus_engine.edit([noise_image(320, 240)], request, on_step=steps.append)
    shown = [step.preview for step in steps]
    assert all(p is not None for p in shown) and len(shown) == 3
    images = [decoded(p.data) for p in shown if p is not None]
    assert all(image.size == (result.image.width // 8, result.image.height // 8) for image in images)
    assert len({p.data for p in shown if p is not None}) == 3  # it changes as the latents do


@pytest.mark.usefixtures("fast_area")
def test_previews_can_be_turned_off(edit_plus_engine: DiffusersEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview, "MIN_INTERVAL_SECONDS", 0.0)
    monkeypatch.setattr(edit_plus_engine, "previews", False)
    steps: list[StepProgress] = []
    edit_plus_engine.edit([noise_image(64, 64)], EditRequest(prompt="x", num_inference_steps=2), on_step=steps.append)
    assert len(steps) == 2 and all(step.preview is None for step in steps)


def test_the_fake_engine_returns_a_photo_like_result_of_the_pipelines_size() -> None:
    engine = FakeEngine(step_seconds=0)
    images = [noise_image(300, 100), noise_image(200, 400)]
    result = engine.edit(images, EditRequest(prompt="x", num_inference_steps=2, seed=3))
    assert result.image.size == model_size(0.5, 1024 * 1024) == (736, 1440)  # the last image's aspect, ~1 MP
    encoded = io.BytesIO()
    result.image.save(encoded, format="PNG")
    assert len(encoded.getvalue()) > 500_000  # not a flat colour: costs what a photo costs to encode
    assert engine.gpu.busy_seconds > 0
