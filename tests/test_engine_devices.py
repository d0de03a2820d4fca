"""Which diffusers calls are made for which device and memory plan (no GPU needed to check the boundary)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qwen_image_editor.engine.devices import DevicePlan
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.memory import MemoryPlan
from qwen_image_editor.engine.models import resolve_model
from qwen_image_editor.engine.placement import MemoryOptions
from qwen_image_editor.errors import ModelUnavailable


class Recorder:
    """Records calls, by name, from everything the engine touches."""

    def __init__(self, calls: list[str], prefix: str = "") -> None:
        self._calls, self._prefix = calls, prefix


class Transformer(Recorder):
    config = type("Config", (), {"zero_cond_t": True})()

    def enable_layerwise_casting(self, storage_dtype: Any, compute_dtype: Any) -> None:
        self._calls.append(f"fp8_storage:{storage_dtype}->{compute_dtype}")

    def set_attention_backend(self, name: str) -> None:
        self._calls.append(f"attention:{name}")

    def compile_repeated_blocks(self, fullgraph: bool) -> None:
        self._calls.append(f"compile_repeated_blocks:fullgraph={fullgraph}")


class QwenImageEditPlusPipeline:
    """Stands in for the loaded pipeline and records what the engine asks of it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.transformer = Transformer(self.calls)
        self.scheduler = object()

    def set_progress_bar_config(self, **kwargs: Any) -> None:
        self.calls.append("progress_bar_off")

    def to(self, device: str) -> None:
        self.calls.append(f"to:{device}")

    def enable_model_cpu_offload(self) -> None:
        self.calls.append("model_offload")

    def enable_group_offload(self, **kwargs: Any) -> None:
        kwargs["onload_device"] = str(kwargs["onload_device"])
        kwargs["offload_device"] = str(kwargs["offload_device"])
        self.calls.append(f"group_offload:{sorted(kwargs.items())}")


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import diffusers
    import torch

    record: dict[str, Any] = {}

    def from_pretrained(location: str, **kwargs: Any) -> QwenImageEditPlusPipeline:
        record.update(location=location, **kwargs)
        record["pipeline"] = QwenImageEditPlusPipeline()
        return record["pipeline"]

    monkeypatch.setattr(diffusers.DiffusionPipeline, "from_pretrained", from_pretrained)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (80 * 10**9, 80 * 10**9))  # an 80 GB card
    return record


def load(tmp_path: Path, device: str, **memory: Any) -> DiffusersEngine:
    plan = DevicePlan(device, "bfloat16" if device == "cuda" else "float32")
    engine = DiffusersEngine(resolve_model("Qwen/Qwen-Image-Edit-2511", tmp_path), plan, memory=MemoryOptions(**memory))
    engine.load()
    return engine


GROUP_OFFLOAD = (
    "group_offload:[('offload_device', 'cpu'), ('offload_type', 'leaf_level'), ('onload_device', 'cuda'), "
    "('use_stream', True)]"
)
FP8_ON_CUDA = "fp8_storage:torch.float8_e4m3fn->torch.bfloat16"


@pytest.mark.parametrize(
    ("device", "plan", "expected"),
    [
        ("cuda", MemoryPlan.FULL, ["progress_bar_off", "to:cuda"]),
        ("cuda", MemoryPlan.OFFLOAD, ["progress_bar_off", "model_offload"]),
        ("cuda", MemoryPlan.LOW, ["progress_bar_off", GROUP_OFFLOAD]),
        ("cuda", MemoryPlan.FP8, ["progress_bar_off", FP8_ON_CUDA, "to:cuda"]),
        ("cpu", MemoryPlan.FP8, ["progress_bar_off", "fp8_storage:torch.float8_e4m3fn->torch.float32"]),
        ("cpu", MemoryPlan.OFFLOAD, ["progress_bar_off"]),  # a GPU memory saver; on the CPU the model stays put
        ("cpu", MemoryPlan.LOW, ["progress_bar_off"]),
        ("cpu", MemoryPlan.AUTO, ["progress_bar_off"]),
    ],
)
def test_placement_follows_device_and_memory_plan(
    loaded: dict[str, Any], tmp_path: Path, device: str, plan: MemoryPlan, expected: list[str]
) -> None:
    import torch

    engine = load(tmp_path, device, plan=plan)
    assert loaded["pipeline"].calls == expected
    assert loaded["location"] == "Qwen/Qwen-Image-Edit-2511"
    assert loaded["dtype"] is (torch.bfloat16 if device == "cuda" else torch.float32)
    assert loaded["use_safetensors"] is True  # never unpickle weights
    assert "quantization_config" not in loaded and "transformer" not in loaded
    assert engine.memory_plan is not None
    assert engine.memory_plan.plan is (MemoryPlan.FULL if plan is MemoryPlan.AUTO else plan)


def test_auto_on_a_48_gb_gpu_stores_the_transformer_in_fp8(
    loaded: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (48 * 10**9, 48 * 10**9))
    engine = load(tmp_path, "cuda")
    assert engine.memory_plan is not None and engine.memory_plan.plan is MemoryPlan.FP8
    assert loaded["pipeline"].calls == ["progress_bar_off", FP8_ON_CUDA, "to:cuda"]


def test_nf4_quantizes_transformer_and_text_encoder_at_load(
    loaded: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import diffusers
    import torch

    from qwen_image_editor.engine import placement

    monkeypatch.setattr(placement, "bitsandbytes_installed", lambda: True)
    monkeypatch.setattr(diffusers, "PipelineQuantizationConfig", lambda **kwargs: ("quantized", kwargs))
    load(tmp_path, "cuda", plan=MemoryPlan.NF4)
    _, config = loaded["quantization_config"]
    assert config["quant_backend"] == "bitsandbytes_4bit"
    assert config["components_to_quantize"] == ["transformer", "text_encoder"]
    assert config["quant_kwargs"] == {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_compute_dtype": torch.bfloat16,
    }
    assert loaded["pipeline"].calls == ["progress_bar_off", "to:cuda"]


def test_nf4_without_bitsandbytes_says_how_to_install_it(
    loaded: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qwen_image_editor.engine import placement

    monkeypatch.setattr(placement, "bitsandbytes_installed", lambda: False)
    with pytest.raises(ModelUnavailable, match="pip install bitsandbytes"):
        load(tmp_path, "cuda", plan=MemoryPlan.NF4)
    with pytest.raises(ModelUnavailable, match="needs a CUDA GPU"):
        load(tmp_path, "cpu", plan=MemoryPlan.NF4)


def test_gguf_loads_the_transformer_from_the_file_then_offloads(
    loaded: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import diffusers

    gguf_file = tmp_path / "transformer-Q5_K_M.gguf"
    gguf_file.write_bytes(b"GGUF")
    single: dict[str, Any] = {}

    def from_single_file(path: str, **kwargs: Any) -> str:
        single.update(path=path, **kwargs)
        return "gguf transformer"

    monkeypatch.setattr(diffusers.QwenImageTransformer2DModel, "from_single_file", from_single_file)
    load(tmp_path, "cuda", plan=MemoryPlan.GGUF, gguf=str(gguf_file))
    assert single["path"] == str(gguf_file)
    assert single["config"] == "Qwen/Qwen-Image-Edit-2511" and single["subfolder"] == "transformer"
    assert type(single["quantization_config"]).__name__ == "GGUFQuantizationConfig"
    assert loaded["transformer"] == "gguf transformer"
    assert loaded["pipeline"].calls == ["progress_bar_off", "model_offload"]


def test_speed_switches_reach_the_transformer(
    loaded: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qwen_image_editor.engine import placement

    monkeypatch.setattr(placement, "attention_backends", lambda: {"native": True, "flash": True})
    load(tmp_path, "cuda", plan=MemoryPlan.FULL, attention="flash", compile=True)
    assert loaded["pipeline"].calls[-2:] == ["attention:flash", "compile_repeated_blocks:fullgraph=True"]


def test_an_attention_backend_that_is_not_installed_is_refused(loaded: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="QIE_ATTENTION=sage is not installed"):
        load(tmp_path, "cuda", plan=MemoryPlan.FULL, attention="sage")


def test_a_pipeline_of_another_kind_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import diffusers

    class StableDiffusionPipeline:
        pass

    monkeypatch.setattr(diffusers.DiffusionPipeline, "from_pretrained", lambda *a, **k: StableDiffusionPipeline())
    engine = DiffusersEngine(resolve_model("someone/sd", tmp_path), DevicePlan("cpu", "float32"))
    with pytest.raises(ModelUnavailable, match="not a pipeline this engine runs"):
        engine.load()
