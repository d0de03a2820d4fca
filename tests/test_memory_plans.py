"""Memory plans: sizes counted from the real configs, the estimates, and what `auto` picks per GPU size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qwen_image_editor.cli import app
from qwen_image_editor.engine.memory import MemoryPlan, Workload, choose_plan, estimate_peak, estimate_plans
from qwen_image_editor.engine.model_size import ModelSize, model_size
from qwen_image_editor.engine.models import resolve_model
from qwen_image_editor.settings import DEFAULT_MODEL, Settings

Q5_GGUF = "QuantStack/Qwen-Image-Edit-2511-GGUF/Qwen-Image-Edit-2511-Q5_K_M.gguf"


@pytest.fixture(scope="module")
def default_size(tmp_path_factory: pytest.TempPathFactory) -> ModelSize:
    """The default model, from its published configs (nothing cached here)."""
    cache = tmp_path_factory.mktemp("empty-hf-cache")
    return model_size(resolve_model(DEFAULT_MODEL, cache), cache_dir=cache)


def test_parameter_counts_are_the_released_models(default_size: ModelSize) -> None:
    assert default_size.transformer.params == 20_430_401_088  # 60 blocks, 24 heads x 128, joint dim 3584
    assert default_size.text_encoder.params == 8_292_166_656  # Qwen2.5-VL-7B
    assert 0.12e9 < default_size.vae.params < 0.14e9
    assert "published configs of Qwen/Qwen-Image-Edit-2511" in default_size.source
    assert estimate_peak(MemoryPlan.FULL, default_size) > (20.43 + 8.29) * 2  # weights alone: 57.4 GB


@pytest.mark.parametrize(
    ("gpu_gb", "bitsandbytes", "gguf", "expected"),
    [
        (80, False, None, MemoryPlan.FULL),
        (48, False, None, MemoryPlan.FP8),
        (24, True, None, MemoryPlan.NF4),
        (24, False, None, MemoryPlan.LOW),  # nf4 would fit, but bitsandbytes is missing
        (24, True, Q5_GGUF, MemoryPlan.GGUF),  # a GGUF set by the operator comes before nf4
        (16, True, Q5_GGUF, MemoryPlan.LOW),
        (12, True, None, MemoryPlan.LOW),
    ],
)
def test_auto_picks_the_fastest_plan_that_fits(
    default_size: ModelSize, gpu_gb: float, bitsandbytes: bool, gguf: str | None, expected: MemoryPlan
) -> None:
    from qwen_image_editor.engine.gguf import gguf_file_bytes

    gguf_bytes = gguf_file_bytes(gguf, default_size.transformer.params)[0] if gguf else None
    estimates = estimate_plans(default_size, gguf_bytes=gguf_bytes, bitsandbytes=bitsandbytes)
    choice = choose_plan(estimates, gpu_gb)
    assert choice.plan is expected, choice.reason
    assert choice.peak_gb <= gpu_gb
    assert str(expected) in choice.reason


def test_estimates_order_the_plans_by_memory(default_size: ModelSize) -> None:
    peak = {plan: estimate_peak(plan, default_size) for plan in MemoryPlan if plan is not MemoryPlan.AUTO}
    assert peak[MemoryPlan.FULL] > peak[MemoryPlan.OFFLOAD] > peak[MemoryPlan.FP8] > peak[MemoryPlan.NF4]
    assert peak[MemoryPlan.NF4] > peak[MemoryPlan.LOW]
    assert 40.8 < peak[MemoryPlan.OFFLOAD] < 48  # the transformer alone is 40.9 GB in bf16
    one_small_image = Workload(output_megapixels=0.25, reference_images=1, reference_megapixels=0.25)
    assert estimate_peak(MemoryPlan.FULL, default_size, one_small_image) < peak[MemoryPlan.FULL]


def test_a_gguf_file_here_counts_by_its_size_and_a_hub_one_by_its_quant_type(tmp_path: Path) -> None:
    from qwen_image_editor.engine.gguf import gguf_file_bytes

    local = tmp_path / "t.gguf"
    local.write_bytes(b"x" * 1234)
    assert gguf_file_bytes(str(local), 20_430_401_088) == (1234, "the GGUF file's size")
    q8, _ = gguf_file_bytes("owner/repo/model-Q8_0.gguf", 20_430_401_088)
    q5, note = gguf_file_bytes(Q5_GGUF, 20_430_401_088)
    assert q8 / 1e9 == pytest.approx(21.7, abs=0.1)  # the published Q8_0 file is ~21.8 GB
    assert q5 / 1e9 == pytest.approx(14.0, abs=0.2) and note.startswith("Q5_K")


def test_doctor_json_for_the_original_48_gb_card(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["doctor", "--gpu-memory", "48", "--json", "--data-dir", str(tmp_path)], env={"HF_HOME": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["model"] == DEFAULT_MODEL
    assert report["memory_plan"]["name"] == "fp8"
    assert report["memory_plan"]["estimated_peak_gb"] <= 44
    assert {plan["name"] for plan in report["plans"]} == {p.value for p in MemoryPlan} - {"auto"}
    assert report["attention_backends"]["native"] is True


def test_qie_offload_is_an_alias_of_the_memory_plans() -> None:
    assert Settings(offload="model").memory_plan == "offload"
    assert Settings(offload="sequential").memory_plan == "low"
    assert Settings(memory="fp8").memory_plan == "fp8"
    with pytest.raises(ValueError, match="QIE_MEMORY replaces"):
        Settings(offload="model", memory="fp8")
    with pytest.raises(ValueError, match="needs QIE_GGUF"):
        Settings(memory="gguf")
