"""Qwen-Image-2.1 through the real engine and the real QwenImage21Pipeline, on its tiny random twin, on the CPU."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from qwen_image_editor.cli import app
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine import families
from qwen_image_editor.engine.base import ModelState, StepProgress
from qwen_image_editor.engine.devices import plan_device
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine, PipelineFamily
from qwen_image_editor.engine.models import resolve_model
from qwen_image_editor.engine.tiny_model import is_tiny_model
from qwen_image_editor.engine.tiny_model_21 import SYSTEM_PROMPT
from qwen_image_editor.errors import EditCancelled, InvalidRequest
from tests.conftest import noise_image

# The tiny model runs here, as conftest marks the tests that use its fixtures (make test-fast skips them).
pytestmark = [pytest.mark.model, pytest.mark.timeout(300)]

# output_resolution: 320² instead of ~1 MP (TINY_MODEL.md's test-speed trick). Not 256: Qwen3-VL's processor
# enlarges an image under 256² pixels (its min_pixels), and a reference rounded to multiples of 32 below that area
# gets more vision tokens than VAE latents, which the transformer refuses.
FAST_RESOLUTION = 320


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models") / "tiny-2.1"
    result = CliRunner().invoke(app, ["make-tiny-model", str(folder), "--flavour", "2.1"])
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def engine(image_21_engine: DiffusersEngine) -> DiffusersEngine:
    """The session's tiny-2.1 engine (conftest), loaded once for every test file that runs it."""
    return image_21_engine


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(families, "QWEN_IMAGE_21_RESOLUTION", FAST_RESOLUTION)
    yield


def request(**overrides: object) -> EditRequest:
    fields: dict[str, object] = {"prompt": "put the hat on the cat", "num_inference_steps": 2, "seed": 7}
    fields.update({"true_cfg_scale": 1.0, **overrides})  # 2.1 runs without guidance
    return EditRequest.model_validate(fields)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


def rgba_image(width: int, height: int, seed: int = 0) -> Image.Image:
    """Noise whose left half is fully transparent."""
    image = noise_image(width, height, seed).convert("RGBA")
    alpha = np.full((height, width), 255, dtype=np.uint8)
    alpha[:, : width // 2] = 0
    image.putalpha(Image.fromarray(alpha))
    return image


class TransformerCalls:
    """Records each transformer pass's KV-cache mode."""

    def __init__(self, engine: DiffusersEngine) -> None:
        self.modes: list[str | None] = []
        self._handle = engine._pipeline.transformer.register_forward_pre_hook(self._record, with_kwargs=True)

    def _record(self, module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        self.modes.append(kwargs.get("kv_cache_mode"))

    def close(self) -> None:
        self._handle.remove()


@pytest.fixture
def transformer_calls(engine: DiffusersEngine) -> Iterator[TransformerCalls]:
    calls = TransformerCalls(engine)
    yield calls
    calls.close()


def test_the_tiny_twin_is_small_marked_and_loads_as_21(model_folder: Path, engine: DiffusersEngine) -> None:
    size = sum(path.stat().st_size for path in model_folder.rglob("*") if path.is_file())
    assert size < 5 * 2**20
    assert json.loads((model_folder / "model_index.json").read_text())["_class_name"] == "QwenImage21Pipeline"
    assert is_tiny_model(model_folder)
    assert engine.state is ModelState.READY and engine.is_demo
    assert engine.family is PipelineFamily.QWEN_IMAGE_21
    pipeline = engine._pipeline
    assert pipeline.vae.config.z_dim == 64 and pipeline.vae.config.in_channels == pipeline.vae.config.out_channels == 4
    assert pipeline.transformer.config.causal_condition is True
    assert pipeline.processor.image_processor.patch_size * pipeline.processor.image_processor.merge_size == 32


def test_the_prompt_template_drops_exactly_the_system_message(engine: DiffusersEngine) -> None:
    pipeline = engine._pipeline
    tokenizer = pipeline.processor.tokenizer
    for template in (pipeline.prompt_template_t2i, pipeline.prompt_template_ti2i):
        ids = tokenizer(template.format("make the sky blue"))["input_ids"]
        dropped, kept = ids[: pipeline._drop_idx], ids[pipeline._drop_idx :]
        assert tokenizer.decode(dropped) == f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n"
        assert tokenizer.decode(kept).startswith("<|im_start|>user\n")
    assert pipeline._img_token_id == tokenizer.convert_tokens_to_ids("<|image_pad|>")


@pytest.mark.usefixtures("fast")
@pytest.mark.parametrize("count", [1, 3])
def test_an_edit_with_references_follows_the_last_ones_aspect(engine: DiffusersEngine, count: int) -> None:
    images = [noise_image(96, 160, seed=i) for i in range(count - 1)] + [noise_image(320, 160, seed=9)]
    result = engine.edit(images, request())
    width, height = result.image.size
    assert result.image.mode == "RGBA"  # the VAE decodes alpha: kept
    assert width % 32 == height % 32 == 0
    assert width * height <= FAST_RESOLUTION**2 * 1.15
    assert width / height == pytest.approx(2.0, rel=0.15)


@pytest.mark.usefixtures("fast")
def test_text_to_image_needs_no_image(engine: DiffusersEngine) -> None:
    result = engine.edit([], request(prompt="a cat on a sofa"))
    assert result.image.size == (FAST_RESOLUTION, FAST_RESOLUTION)
    assert result.image.mode == "RGBA"


@pytest.mark.usefixtures("fast")
def test_an_exact_size_is_drawn_in_its_aspect_and_resized(engine: DiffusersEngine) -> None:
    assert engine.edit([], request(), output_size=(300, 100)).image.size == (300, 100)
    kept = engine.edit([noise_image(203, 131)], request(keep_input_size=True))
    assert kept.image.size == (203, 131)


@pytest.mark.usefixtures("fast")
def test_same_seed_same_pixels_other_seed_other_pixels(engine: DiffusersEngine) -> None:
    images = [noise_image(128, 128)]
    first = engine.edit(images, request(seed=11))
    again = engine.edit(images, request(seed=11))
    other = engine.edit(images, request(seed=12))
    assert np.array_equal(pixels(first.image), pixels(again.image))
    assert not np.array_equal(pixels(first.image), pixels(other.image))


@pytest.mark.usefixtures("fast")
def test_progress_once_per_step_one_pass_per_step_from_the_kv_cache(
    engine: DiffusersEngine, transformer_calls: TransformerCalls
) -> None:
    steps: list[StepProgress] = []
    engine.edit([noise_image(128, 128, 1), noise_image(96, 128, 2)], request(num_inference_steps=4), steps.append)
    assert [s.step for s in steps] == [1, 2, 3, 4]
    assert all(s.total == 4 for s in steps) and steps[-1].eta_seconds == 0
    # Guidance 1: no negative-prompt pass. Text and references run once (extract), later steps read the cache.
    assert transformer_calls.modes == ["extract", "cached", "cached", "cached"]


@pytest.mark.usefixtures("fast")
def test_guidance_above_1_adds_the_negative_pass(engine: DiffusersEngine, transformer_calls: TransformerCalls) -> None:
    engine.edit([noise_image(128, 128)], request(true_cfg_scale=3.0, negative_prompt="blurry"))
    assert transformer_calls.modes == ["extract", "extract", "cached", "cached"]


@pytest.mark.usefixtures("fast")
def test_no_previews_from_its_latents(engine: DiffusersEngine) -> None:
    steps: list[StepProgress] = []
    assert engine.previews
    engine.edit([noise_image(128, 128)], request(num_inference_steps=3), steps.append)
    assert len(steps) == 3 and all(step.preview is None for step in steps)


@pytest.mark.usefixtures("fast")
def test_cancel_stops_at_the_next_step_and_the_pipeline_edits_again(engine: DiffusersEngine) -> None:
    steps: list[int] = []
    cancel = threading.Event()

    def on_step(step: StepProgress) -> None:
        steps.append(step.step)
        if step.step == 2:
            cancel.set()

    with pytest.raises(EditCancelled):
        engine.edit([noise_image(128, 128)], request(num_inference_steps=6), on_step, cancel.is_set)
    assert steps == [1, 2]
    assert engine.edit([noise_image(128, 128)], request()).image.mode == "RGBA"


@pytest.mark.usefixtures("fast")
def test_two_variations_are_each_what_their_seed_gives_alone(engine: DiffusersEngine) -> None:
    images = [noise_image(128, 128)]
    asked = request(num_images=2, seed=20)
    # As the worker makes them: one edit per variation seed.
    variations = [engine.edit(images, asked.with_seed(seed)) for seed in asked.image_seeds()]
    assert [result.seed for result in variations] == [20, 21]
    assert not np.array_equal(pixels(variations[0].image), pixels(variations[1].image))
    alone = engine.edit(images, request(seed=21))
    assert np.array_equal(pixels(variations[1].image), pixels(alone.image))


@pytest.mark.usefixtures("fast")
def test_rgba_in_reaches_the_vae_and_rgba_comes_out(engine: DiffusersEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    vae = engine._pipeline.vae
    real_encode = vae.encode
    alphas: list[Any] = []

    def encode(x: Any, *args: Any, **kwargs: Any) -> Any:
        alphas.append(x[:, 3])  # (batch, RGBA, frames, height, width), in [-1, 1]
        return real_encode(x, *args, **kwargs)

    monkeypatch.setattr(vae, "encode", encode)
    transparent = rgba_image(256, 256)
    assert engine.fit_inputs([transparent])[0].mode == "RGBA"
    result = engine.edit([transparent], request())
    assert result.image.mode == "RGBA"
    assert len(alphas) == 1 and float(alphas[0].min()) == -1.0 and float(alphas[0].max()) == 1.0


@pytest.mark.usefixtures("fast")
def test_a_configured_schedule_runs_the_steps_asked_for(engine: DiffusersEngine) -> None:
    pipeline = engine._pipeline
    pipeline.register_to_config(sample_sigmas=[1.0, 0.8, 0.6, 0.4, 0.2])  # the author's 5-step grid
    try:
        steps: list[StepProgress] = []
        engine.edit([], request(num_inference_steps=3), steps.append)
    finally:
        pipeline.register_to_config(sample_sigmas=None)
    assert [s.step for s in steps] == [1, 2, 3]


def test_eleven_references_are_refused_before_loading(model_folder: Path) -> None:
    fresh = DiffusersEngine(resolve_model(str(model_folder), model_folder.parent), plan_device("cpu"))
    with pytest.raises(InvalidRequest, match="0 to 10"):
        fresh.edit([noise_image(64, 64)] * 11, request())
    assert fresh.state is ModelState.NOT_LOADED


@pytest.mark.usefixtures("fast")
def test_lightning_runs_the_base_model_with_no_lora(engine: DiffusersEngine) -> None:
    # No Lightning LoRA exists for 2.1: the request's few steps without guidance are the fast path.
    fast = engine.edit([], request(lightning=True, num_inference_steps=4))
    assert not getattr(engine._pipeline.transformer, "peft_config", None)
    plain = engine.edit([], request(num_inference_steps=4))
    assert np.array_equal(pixels(fast.image), pixels(plain.image))


@pytest.mark.slow
def test_text_to_image_at_the_published_resolution(engine: DiffusersEngine) -> None:
    result = engine.edit([], request())
    assert result.image.size == (1024, 1024) and result.image.mode == "RGBA"
