"""Lightning and LoRAs on the tiny model: switched per job on one loaded pipeline, base pixels restored exactly."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.devices import plan_device
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.lightning import lightning_scheduler
from qwen_image_editor.engine.loras import make_random_lora, make_tiny_lora
from qwen_image_editor.engine.models import resolve_model
from qwen_image_editor.errors import InvalidRequest
from tests.conftest import noise_image

pytestmark = pytest.mark.usefixtures("fast_area")

IMAGES = [noise_image(64, 64, seed=3)]


@pytest.fixture(scope="module")
def loras_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("loras")
    make_tiny_lora(folder / "style.safetensors", seed=1)
    make_tiny_lora(folder / "other.safetensors", seed=2)
    (folder / "garbage.safetensors").write_bytes(b"\x00" * 64)
    (folder / "pickled.ckpt").write_bytes(pickle.dumps({"not": "read"}))  # never listed, never loaded
    return folder


@pytest.fixture(scope="module")
def engine(models_dir: Path, loras_dir: Path) -> DiffusersEngine:
    engine = DiffusersEngine(resolve_model("tiny", models_dir), plan_device("cpu"), loras_dir=loras_dir)
    engine.load()
    return engine


def edit(engine: DiffusersEngine, **fields: object) -> np.ndarray:
    request = EditRequest.model_validate({"prompt": "make the sky blue", "num_inference_steps": 2, "seed": 5, **fields})
    return np.asarray(engine.edit(IMAGES, request).image)


@pytest.fixture
def base(engine: DiffusersEngine, fast_area: int) -> np.ndarray:
    """The plain job's pixels, before any adapter was loaded in this module (then cached)."""
    cached: np.ndarray | None = getattr(engine, "_test_base_pixels", None)
    if cached is None:
        cached = edit(engine)
        engine._test_base_pixels = cached  # type: ignore[attr-defined]
    return cached


def test_lightning_runs_8_steps_or_4_without_guidance_and_records_it() -> None:
    asked = EditRequest(prompt="x", lightning=True, true_cfg_scale=6.0)
    assert (asked.num_inference_steps, asked.true_cfg_scale) == (8, 1.0)
    four = EditRequest.model_validate({"prompt": "x", "lightning": True, "num_inference_steps": 4})
    assert four.num_inference_steps == 4
    assert EditRequest(prompt="x", num_inference_steps=30).num_inference_steps == 30  # untouched without it


def test_lightning_scheduler_gives_the_published_sigmas_for_4_steps() -> None:
    from diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus import calculate_shift, retrieve_timesteps

    scheduler = lightning_scheduler()
    cfg = scheduler.config
    for image_tokens in (256, 4096):  # mu is pinned at log(3): the sigmas do not depend on the size
        mu = calculate_shift(image_tokens, cfg.base_image_seq_len, cfg.max_image_seq_len, cfg.base_shift, cfg.max_shift)
        retrieve_timesteps(scheduler, 4, "cpu", sigmas=list(np.linspace(1.0, 1 / 4, 4)), mu=mu)
        assert scheduler.sigmas.tolist() == pytest.approx([1.0, 0.9, 0.75, 0.5, 0.0], abs=1e-6)


def test_lightning_per_job_then_the_base_pixels_come_back_exactly(engine: DiffusersEngine, base: np.ndarray) -> None:
    steps: list[int] = []
    request = EditRequest(prompt="make the sky blue", seed=5, lightning=True, num_inference_steps=4)
    lightning = np.asarray(engine.edit(IMAGES, request, on_step=lambda s: steps.append(s.step)).image)
    assert steps == [1, 2, 3, 4]
    assert engine._pipeline.scheduler is engine._base_scheduler  # the stock scheduler is back
    assert not np.array_equal(lightning, base)
    assert np.array_equal(edit(engine), base)
    assert (Path(engine._source.location) / "lightning" / "tiny-lightning-4steps.safetensors").is_file()


def test_a_lora_changes_the_output_and_weight_0_gives_the_base_pixels(
    engine: DiffusersEngine, base: np.ndarray
) -> None:
    styled = edit(engine, loras=[{"name": "style", "weight": 0.8}])
    assert not np.array_equal(styled, base)
    assert np.array_equal(edit(engine, loras=[{"name": "style", "weight": 0.0}]), base)
    both = edit(engine, loras=[{"name": "style", "weight": 0.8}, {"name": "other", "weight": 0.5}])
    assert not np.array_equal(both, styled)
    assert np.array_equal(edit(engine, loras=[{"name": "style", "weight": 0.8}]), styled)  # switched, not stacked


def test_bad_lora_files_fail_their_job_alone_with_the_reason(
    engine: DiffusersEngine, loras_dir: Path, base: np.ndarray
) -> None:
    import torch
    from safetensors.torch import save_file

    save_file(
        {"transformer.transformer_blocks.0.attn.to_q.lora_A.weight": torch.zeros(4, 48)}, loras_dir / "wide.safetensors"
    )
    save_file({"transformer.single_blocks.0.linear.lora_A.weight": torch.zeros(4, 32)}, loras_dir / "alien.safetensors")
    save_file({"text_encoder.layers.0.q.lora_A.weight": torch.zeros(4, 32)}, loras_dir / "text.safetensors")
    save_file({"some.weight": torch.zeros(2)}, loras_dir / "empty.safetensors")
    for name, reason in [
        ("garbage", "not a readable .safetensors file"),
        ("missing", "no LoRA named 'missing'"),
        ("wide", "to_q has 64 inputs in this model but 48 in the LoRA"),
        ("alien", "expects a layer single_blocks.0.linear"),
        ("text", "only transformer LoRAs are supported"),
        ("empty", "holds no LoRA weights"),
    ]:
        with pytest.raises(InvalidRequest, match=reason):
            edit(engine, loras=[{"name": "style"}, {"name": name}])
    assert np.array_equal(edit(engine), base)  # the next job runs on the unchanged base model


def test_the_list_says_which_files_fit(engine: DiffusersEngine, loras_dir: Path) -> None:
    listed = {lora.name: lora for lora in engine.loras()}
    assert "pickled" not in listed
    assert listed["style"].matches is True and listed["style"].reason is None
    assert listed["style"].size_bytes == (loras_dir / "style.safetensors").stat().st_size
    assert listed["garbage"].matches is False and "safetensors" in (listed["garbage"].reason or "")


def test_a_lora_for_another_shape_of_model_is_marked_as_not_matching(tmp_path: Path, engine: DiffusersEngine) -> None:
    from diffusers import QwenImageTransformer2DModel

    from qwen_image_editor.engine.loras import check_lora

    wider = QwenImageTransformer2DModel(
        num_layers=1, attention_head_dim=16, num_attention_heads=2, joint_attention_dim=16, axes_dims_rope=(4, 6, 6)
    )
    path = make_random_lora(wider, tmp_path / "wider.safetensors", lightx2v=True)
    assert "made for another model" in (check_lora(path, engine._pipeline) or "")
