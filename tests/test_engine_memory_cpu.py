"""The memory plans whose libraries run on a CPU, on the tiny model: fp8 storage and a GGUF transformer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.devices import plan_device
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.gguf import make_tiny_gguf
from qwen_image_editor.engine.memory import MemoryPlan
from qwen_image_editor.engine.models import ensure_tiny_model, resolve_model
from qwen_image_editor.engine.placement import MemoryOptions
from tests.conftest import noise_image

pytestmark = pytest.mark.usefixtures("fast_area")

REQUEST = EditRequest(prompt="make the sky blue", num_inference_steps=2, seed=3)
IMAGES = [noise_image(64, 64, seed=4)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.fixture(scope="module")
def tiny_gguf(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = ensure_tiny_model(resolve_model("tiny", models_dir))
    return make_tiny_gguf(folder, tmp_path_factory.mktemp("gguf") / "tiny-Q8_0.gguf", "Q8_0")


def run(models_dir: Path, **memory: object) -> tuple[DiffusersEngine, np.ndarray]:
    engine = DiffusersEngine(
        resolve_model("tiny", models_dir),
        plan_device("cpu"),
        memory=MemoryOptions(**memory),  # type: ignore[arg-type]
    )
    return engine, np.asarray(engine.edit(IMAGES, REQUEST).image)


def test_fp8_stores_the_transformer_in_float8_and_stays_close_to_full(models_dir: Path) -> None:
    import torch

    _, full = run(models_dir, plan=MemoryPlan.FULL)
    engine, fp8 = run(models_dir, plan=MemoryPlan.FP8)
    to_q = engine._pipeline.transformer.transformer_blocks[0].attn.to_q
    assert to_q.weight.dtype is torch.float8_e4m3fn
    assert engine._pipeline.text_encoder.dtype is torch.float32  # only the transformer is stored small
    assert 30 < psnr(fp8, full) < float("inf")


def test_gguf_reads_the_transformer_from_a_q8_file_and_stays_close_to_full(models_dir: Path, tiny_gguf: Path) -> None:
    _, full = run(models_dir, plan=MemoryPlan.FULL)
    engine, q8 = run(models_dir, plan=MemoryPlan.GGUF, gguf=str(tiny_gguf))
    weight = engine._pipeline.transformer.transformer_blocks[0].attn.to_q.weight
    assert type(weight).__name__ == "GGUFParameter"
    assert engine.memory_plan is not None and engine.memory_plan.plan is MemoryPlan.GGUF
    assert 30 < psnr(q8, full) < float("inf")
