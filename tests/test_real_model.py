"""The real Qwen-Image-Edit-2511 on a GPU. Skipped here (no GPU, no weights); run with QIE_REAL_MODEL_TESTS=1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.base import ModelState
from qwen_image_editor.engine.factory import build_engine
from qwen_image_editor.settings import DEFAULT_MODEL, Settings
from tests.conftest import noise_image

pytestmark = [
    pytest.mark.real_model,
    pytest.mark.skipif(
        os.environ.get("QIE_REAL_MODEL_TESTS") != "1",
        reason="needs the real weights and a CUDA GPU; set QIE_REAL_MODEL_TESTS=1 on such a machine",
    ),
]


def test_the_default_model_edits_two_images_on_the_gpu(tmp_path: Path) -> None:
    engine = build_engine(Settings(model=DEFAULT_MODEL, device="cuda", data_dir=tmp_path))
    engine.load()
    assert engine.state is ModelState.READY and not engine.is_demo
    request = EditRequest(prompt="put the hat from picture 2 on the person in picture 1", num_inference_steps=8)
    result = engine.edit([noise_image(512, 512, 1), noise_image(512, 512, 2)], request)
    width, height = result.image.size
    assert 0.9e6 < width * height < 1.1e6
