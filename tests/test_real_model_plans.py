"""Every memory plan on a real GPU with the real default model. Skipped here; run with QIE_REAL_MODEL_TESTS=1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.factory import build_engine
from qwen_image_editor.engine.memory import bitsandbytes_installed
from qwen_image_editor.settings import DEFAULT_MODEL, Settings
from tests.conftest import noise_image

pytestmark = [
    pytest.mark.real_model,
    pytest.mark.skipif(
        os.environ.get("QIE_REAL_MODEL_TESTS") != "1",
        reason="needs the real weights and a CUDA GPU; set QIE_REAL_MODEL_TESTS=1 on such a machine",
    ),
]


@pytest.mark.parametrize("plan", ["fp8", "offload", "nf4", "low"])
def test_each_plan_runs_a_lightning_edit_within_its_estimate(tmp_path: Path, plan: str) -> None:
    import torch

    if plan == "nf4" and not bitsandbytes_installed():
        pytest.skip("nf4 needs bitsandbytes")
    engine = build_engine(Settings(model=DEFAULT_MODEL, device="cuda", memory=plan, data_dir=tmp_path))
    engine.load()
    torch.cuda.reset_peak_memory_stats()
    request = EditRequest(prompt="make the sky stormy", lightning=True, seed=1)
    result = engine.edit([noise_image(1024, 1024, 1)], request)
    assert result.image.size[0] * result.image.size[1] > 0.9e6
    choice = engine.memory_plan  # type: ignore[attr-defined]
    assert choice.plan == plan
    assert torch.cuda.max_memory_allocated() / 1e9 <= choice.peak_gb * 1.1
