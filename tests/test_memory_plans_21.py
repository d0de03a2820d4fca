"""Memory plans for Qwen-Image-2.1 (issue 18, point 7): its sizes counted from the published configs, every plan's
estimate and what `auto` picks per GPU size, `qie doctor` for it without the weights, and fp8 and GGUF run on its
tiny twin against full."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from qwen_image_editor.cli import app
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine import families
from qwen_image_editor.engine.devices import plan_device
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.gguf import gguf_file_bytes, make_tiny_gguf
from qwen_image_editor.engine.memory import (
    USABLE_SHARE,
    WORKLOAD_21,
    MemoryPlan,
    activations,
    choose_plan,
    estimate_peak,
    estimate_plans,
    workload_for,
)
from qwen_image_editor.engine.model_size import ModelSize, model_size
from qwen_image_editor.engine.models import ensure_tiny_model, resolve_model
from qwen_image_editor.engine.placement import MemoryOptions
from qwen_image_editor.engine.published_configs import IMAGE_21
from tests.conftest import noise_image
from tests.test_engine_memory_cpu import psnr

Q8_GGUF = "unsloth/Qwen-Image-2.1-GGUF/qwen-image-2.1-Q8_0.gguf"  # named by its quant type: sized, not fetched
CARDS = (80, 48, 24, 16, 12)

# Each plan's estimated peak in GB for a ~1 MP image from 3 ~1 MP references (no GGUF file: gguf counts the bf16
# transformer), and the plan `auto` picks on each card: with bitsandbytes, without, and with a Q8_0 GGUF set.
TABLE_21 = {
    MemoryPlan.FULL: 41.2,
    MemoryPlan.FP8: 34.2,
    MemoryPlan.OFFLOAD: 23.0,
    MemoryPlan.GGUF: 23.0,
    MemoryPlan.NF4: 20.1,
    MemoryPlan.LOW: 9.0,
}
GGUF_Q8_PEAK = 19.4  # the bf16 text encoder's turn is the peak: the transformer file's size no longer matters
CHOSEN_21 = {
    # card GB: (bitsandbytes, no bitsandbytes, a Q8_0 GGUF and bitsandbytes)
    80: ("full", "full", "full"),
    48: ("full", "full", "full"),
    24: ("nf4", "low", "gguf"),
    16: ("low", "low", "low"),
    12: ("low", "low", "low"),
}


@pytest.fixture(scope="module")
def size_21(tmp_path_factory: pytest.TempPathFactory) -> ModelSize:
    """Qwen-Image-2.1 from its published configs (nothing cached here)."""
    cache = tmp_path_factory.mktemp("empty-hf-cache")
    return model_size(resolve_model(IMAGE_21, cache), cache_dir=cache)


def test_parameter_counts_are_the_published_21(size_21: ModelSize) -> None:
    assert size_21.transformer.params == 7_115_124_736  # 32 single-stream blocks, 32 heads x 128, context 4096
    assert size_21.text_encoder.params == 8_767_123_696  # Qwen3-VL-8B-Instruct (its vision tower: 576,388,336)
    assert size_21.vae.params == 337_740_404  # 64 latent channels, 16x, RGBA
    assert size_21.transformer_class == "QwenImage21Transformer2DModel"
    assert "published configs of Qwen/Qwen-Image-2.1" in size_21.source
    assert size_21.transformer.cached_per_token == 2 * 32 * 4096  # keys and values of every block


def test_21_is_sized_for_its_own_pipeline(size_21: ModelSize) -> None:
    assert workload_for(size_21) is WORKLOAD_21
    assert WORKLOAD_21.text_tokens_per_image == 1024  # a 1024² reference in 32x32-pixel vision tokens
    act = activations(size_21)
    prefix_tokens = 300 + 3 * 1024**2 / 256  # the prompt and 3 references' latents (2x2 per vision token)
    kv_cache = prefix_tokens * 2 * 32 * 4096 * 2
    assert kv_cache / 1e9 == pytest.approx(6.5, abs=0.1)
    assert act.transformer > kv_cache and act.largest == act.transformer
    more = replace(WORKLOAD_21, reference_images=4)
    each = estimate_peak(MemoryPlan.FULL, size_21, more) - estimate_peak(MemoryPlan.FULL, size_21)
    assert each == pytest.approx(2.6, abs=0.1)  # what memory.py's comment says a further reference adds
    text_alone = replace(WORKLOAD_21, reference_images=0)
    assert estimate_peak(MemoryPlan.FULL, size_21, text_alone) < TABLE_21[MemoryPlan.FULL] - 4


def test_the_21_plan_table(size_21: ModelSize) -> None:
    estimates = estimate_plans(size_21, bitsandbytes=True)
    assert {e.plan: e.peak_gb for e in estimates} == TABLE_21
    gguf = next(e for e in estimates if e.plan is MemoryPlan.GGUF)
    assert not gguf.available and "QIE_GGUF" in gguf.note  # only the file is missing: diffusers reads 2.1 GGUFs
    q8, _ = gguf_file_bytes(Q8_GGUF, size_21.transformer.params)
    assert q8 / 1e9 == pytest.approx(7.56, abs=0.01)
    with_file = estimate_plans(size_21, gguf_bytes=q8, bitsandbytes=True)
    assert next(e for e in with_file if e.plan is MemoryPlan.GGUF).peak_gb == GGUF_Q8_PEAK


@pytest.mark.parametrize("gpu_gb", CARDS)
def test_auto_picks_for_21(size_21: ModelSize, gpu_gb: int) -> None:
    q8, _ = gguf_file_bytes(Q8_GGUF, size_21.transformer.params)
    cases = [
        estimate_plans(size_21, bitsandbytes=True),
        estimate_plans(size_21, bitsandbytes=False),
        estimate_plans(size_21, gguf_bytes=q8, bitsandbytes=True),
    ]
    for estimates, expected in zip(cases, CHOSEN_21[gpu_gb], strict=True):
        choice = choose_plan(estimates, gpu_gb)
        assert choice.plan == expected, choice.reason
        assert choice.peak_gb <= gpu_gb * USABLE_SHARE
        if gpu_gb == 24:
            assert choice.peak_gb <= 22


def test_the_reason_says_would_fit_only_of_a_plan_that_fits(size_21: ModelSize) -> None:
    estimates = estimate_plans(size_21, bitsandbytes=False)  # no bitsandbytes, no GGUF file
    at_24 = choose_plan(estimates, 24).reason  # 22.1 GB usable: nf4's 20.1 fits, gguf's 23.0 (bf16) does not
    assert "nf4 would fit but needs: pip install bitsandbytes" in at_24
    assert "gguf needs 23.0 GB (and: set QIE_GGUF" in at_24
    at_12 = choose_plan(estimates, 12).reason  # 11.0 GB usable: neither would fit whatever was installed
    assert "would fit" not in at_12 and "nf4 needs 20.1 GB (and: pip install bitsandbytes" in at_12


def test_doctor_json_for_21_on_a_48_gb_card_needs_no_weights(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["doctor", "--model", IMAGE_21, "--gpu-memory", "48", "--json", "--data-dir", str(tmp_path)],
        env={"HF_HOME": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["model"] == IMAGE_21 and report["demo"] is False
    assert report["model_size"]["source"] == "the published configs of Qwen/Qwen-Image-2.1"
    assert report["model_size"]["text_encoder_params"] == 8_767_123_696
    assert report["memory_plan"]["name"] == "full"
    assert report["memory_plan"]["estimated_peak_gb"] == TABLE_21[MemoryPlan.FULL]
    plans = {plan["name"]: plan for plan in report["plans"]}
    assert set(plans) == {p.value for p in MemoryPlan} - {"auto"}
    assert plans["full"]["fits"] and plans["fp8"]["fits"] and plans["low"]["fits"]
    assert not plans["gguf"]["available"] and "QIE_GGUF" in plans["gguf"]["note"]


# -- fp8 and GGUF on the tiny twin, on the CPU (marked `model` by conftest through models_dir) --------------------

REQUEST = EditRequest(prompt="put the hat on the cat", num_inference_steps=2, seed=3, true_cfg_scale=1.0)
IMAGES = [noise_image(64, 64, seed=4)]
FAST_RESOLUTION = 320  # as tests/test_model_21.py: output_resolution 320² instead of 1024²


@pytest.fixture
def fast_21(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(families, "QWEN_IMAGE_21_RESOLUTION", FAST_RESOLUTION)
    yield


@pytest.fixture(scope="module")
def tiny_21_gguf(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = ensure_tiny_model(resolve_model("tiny-2.1", models_dir))
    return make_tiny_gguf(folder, tmp_path_factory.mktemp("gguf") / "tiny-2.1-Q8_0.gguf", "Q8_0")


def run_21(models_dir: Path, **memory: object) -> tuple[DiffusersEngine, np.ndarray]:
    engine = DiffusersEngine(
        resolve_model("tiny-2.1", models_dir),
        plan_device("cpu"),
        memory=MemoryOptions(**memory),  # type: ignore[arg-type]
    )
    return engine, np.asarray(engine.edit(IMAGES, REQUEST).image)


@pytest.mark.usefixtures("fast_21")
def test_fp8_stores_the_21_transformer_in_float8_and_stays_close_to_full(models_dir: Path) -> None:
    import torch

    _, full = run_21(models_dir, plan=MemoryPlan.FULL)
    engine, fp8 = run_21(models_dir, plan=MemoryPlan.FP8)
    block = engine._pipeline.transformer.transformer_blocks[0]
    assert block.attn.to_q.weight.dtype is torch.float8_e4m3fn
    assert block.img_mlp.gate_layer.weight.dtype is torch.float8_e4m3fn
    assert engine._pipeline.text_encoder.dtype is torch.float32  # only the transformer is stored small
    assert full.shape == fp8.shape == (FAST_RESOLUTION, FAST_RESOLUTION, 4)
    print(f"tiny-2.1 fp8 PSNR vs full: {psnr(fp8, full):.1f} dB")
    assert 30 < psnr(fp8, full) < float("inf")


@pytest.mark.usefixtures("fast_21")
def test_gguf_reads_the_21_transformer_from_a_q8_file_and_stays_close_to_full(
    models_dir: Path, tiny_21_gguf: Path
) -> None:
    _, full = run_21(models_dir, plan=MemoryPlan.FULL)
    engine, q8 = run_21(models_dir, plan=MemoryPlan.GGUF, gguf=str(tiny_21_gguf))
    mlp = engine._pipeline.transformer.transformer_blocks[0].img_mlp
    # The file holds ComfyUI's fused gate_up; diffusers' 2.1 converter split it back, still quantised.
    assert type(mlp.gate_layer.weight).__name__ == type(mlp.proj.weight).__name__ == "GGUFParameter"
    assert type(engine._pipeline.transformer).__name__ == "QwenImage21Transformer2DModel"
    assert engine.memory_plan is not None and engine.memory_plan.plan is MemoryPlan.GGUF
    print(f"tiny-2.1 Q8_0 GGUF PSNR vs full: {psnr(q8, full):.1f} dB")
    assert 30 < psnr(q8, full) < float("inf")
