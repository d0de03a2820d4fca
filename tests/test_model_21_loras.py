"""LoRAs for Qwen-Image-2.1 (issue 18, point 10): the same folder serves every model, each file is checked against
the loaded transformer, so an Edit-model LoRA is listed as not fitting 2.1 and a 2.1 LoRA as not fitting the Edit
models; a 2.1 LoRA applies to 2.1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qwen_image_editor.edit_request import EditRequest, LoraChoice
from qwen_image_editor.engine import families
from qwen_image_editor.engine.devices import plan_device
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.loras import make_random_lora
from qwen_image_editor.engine.models import resolve_model
from qwen_image_editor.errors import InvalidRequest
from tests.conftest import noise_image

pytestmark = [pytest.mark.model, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def loras(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, edit_plus_engine: DiffusersEngine) -> Path:
    folder = tmp_path_factory.mktemp("loras")
    make_random_lora(edit_plus_engine._pipeline.transformer, folder / "edit-style.safetensors", seed=1)
    image_21 = DiffusersEngine(resolve_model("tiny-2.1", models_dir), plan_device("cpu"))
    image_21.load()
    make_random_lora(image_21._pipeline.transformer, folder / "qwen21-style.safetensors", seed=2, scale=2.0)
    return folder


@pytest.fixture(scope="module")
def engine_21(models_dir: Path, loras: Path) -> DiffusersEngine:
    engine = DiffusersEngine(resolve_model("tiny-2.1", models_dir), plan_device("cpu"), loras_dir=loras)
    engine.load()
    return engine


def test_each_lora_is_listed_as_fitting_its_own_family_only(
    engine_21: DiffusersEngine, models_dir: Path, loras: Path
) -> None:
    on_21 = {info.name: info for info in engine_21.loras()}
    assert on_21["qwen21-style"].matches is True
    assert on_21["edit-style"].matches is False and "made for another model" in (on_21["edit-style"].reason or "")
    edit = DiffusersEngine(resolve_model("tiny", models_dir), plan_device("cpu"), loras_dir=loras)
    edit.load()
    on_edit = {info.name: info for info in edit.loras()}
    assert on_edit["edit-style"].matches is True and on_edit["qwen21-style"].matches is False


def test_a_21_lora_changes_a_21_edit_and_an_edit_lora_is_refused(
    engine_21: DiffusersEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(families, "QWEN_IMAGE_21_RESOLUTION", 320)  # tests/test_model_21.py says why not 256
    image = [noise_image(320, 320, seed=4)]

    def edit(*choices: LoraChoice) -> np.ndarray:
        request = EditRequest(prompt="paint it", num_inference_steps=2, true_cfg_scale=1.0, seed=3, loras=list(choices))
        return np.asarray(engine_21.edit(image, request).image, dtype=np.float32)

    base = edit()
    styled = edit(LoraChoice(name="qwen21-style", weight=1.0))
    assert np.abs(styled - base).mean() > 0.5
    assert np.array_equal(edit(LoraChoice(name="qwen21-style", weight=0.0)), base)  # weight 0: the base pixels
    with pytest.raises(InvalidRequest, match="edit-style"):
        edit(LoraChoice(name="edit-style"))
