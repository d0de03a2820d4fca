"""Which loading calls are made for which device and offload setting (no GPU needed to check the boundary)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qwen_image_editor.engine.devices import DevicePlan
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.models import resolve_model


class QwenImageEditPlusPipeline:
    """Stands in for the loaded pipeline and records what the engine asks of it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def set_progress_bar_config(self, **kwargs: Any) -> None:
        self.calls.append("progress_bar_off")

    def to(self, device: str) -> None:
        self.calls.append(f"to:{device}")

    def enable_model_cpu_offload(self) -> None:
        self.calls.append("model_offload")

    def enable_sequential_cpu_offload(self) -> None:
        self.calls.append("sequential_offload")


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import diffusers

    record: dict[str, Any] = {}

    def from_pretrained(location: str, **kwargs: Any) -> QwenImageEditPlusPipeline:
        record.update(location=location, **kwargs)
        record["pipeline"] = QwenImageEditPlusPipeline()
        return record["pipeline"]

    monkeypatch.setattr(diffusers.DiffusionPipeline, "from_pretrained", from_pretrained)
    return record


@pytest.mark.parametrize(
    ("device", "offload", "expected"),
    [
        ("cuda", "none", ["progress_bar_off", "to:cuda"]),
        ("cuda", "model", ["progress_bar_off", "model_offload"]),
        ("cuda", "sequential", ["progress_bar_off", "sequential_offload"]),
        ("cpu", "model", ["progress_bar_off"]),  # offload is a GPU memory saver; on the CPU it stays put
    ],
)
def test_placement_follows_device_and_offload(
    loaded: dict[str, Any], tmp_path: Path, device: str, offload: str, expected: list[str]
) -> None:
    import torch

    plan = DevicePlan(device, "bfloat16" if device == "cuda" else "float32")
    engine = DiffusersEngine(resolve_model("Qwen/Qwen-Image-Edit-2511", tmp_path), plan, offload=offload)
    engine.load()
    assert loaded["pipeline"].calls == expected
    assert loaded["location"] == "Qwen/Qwen-Image-Edit-2511"
    assert loaded["dtype"] is (torch.bfloat16 if device == "cuda" else torch.float32)
    assert loaded["use_safetensors"] is True  # never unpickle weights


def test_a_pipeline_of_another_kind_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import diffusers

    from qwen_image_editor.errors import ModelUnavailable

    class StableDiffusionPipeline:
        pass

    monkeypatch.setattr(diffusers.DiffusionPipeline, "from_pretrained", lambda *a, **k: StableDiffusionPipeline())
    engine = DiffusersEngine(resolve_model("someone/sd", tmp_path), DevicePlan("cpu", "float32"))
    with pytest.raises(ModelUnavailable, match="not a Qwen-Image-Edit pipeline"):
        engine.load()
