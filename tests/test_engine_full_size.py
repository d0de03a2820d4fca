"""The unpatched path: the pipelines' own ~1 megapixel sizing, as users get it."""

from __future__ import annotations

import pytest

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from tests.conftest import noise_image


@pytest.mark.slow
def test_default_output_is_about_one_megapixel_with_the_last_images_aspect(
    edit_plus_engine: DiffusersEngine,
) -> None:
    images = [noise_image(200, 300, seed=1), noise_image(300, 200, seed=2)]  # last is 3:2 landscape
    result = edit_plus_engine.edit(images, EditRequest(prompt="make it stormy", num_inference_steps=2, seed=1))
    width, height = result.image.size
    assert width % 16 == 0 and height % 16 == 0
    assert 0.9e6 < width * height < 1.1e6
    assert width / height == pytest.approx(1.5, rel=0.05)
