"""GUARANTEES.md, "No server-side request forgery": the only outbound requests a user can cause are webhooks
(issue 19, point 14). The operator's settings may make the service fetch files from the Hugging Face Hub when the
model loads; a job must not make it reach out.

A Lightning job once called `huggingface_hub.hf_hub_download` on every job (a request to huggingface.co per job
with the Hub online); the Lightning files are now fetched as the model loads, and jobs only use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import huggingface_hub
import pytest

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.devices import plan_device
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.lightning import ensure_tiny_lightning_lora
from qwen_image_editor.engine.models import resolve_model
from tests.conftest import noise_image

pytestmark = pytest.mark.usefixtures("fast_area")

HUB_LORA = "lightx2v/Qwen-Image-Lightning/Qwen-Image-Edit-Lightning-4steps.safetensors"


def test_a_lightning_job_makes_no_outbound_request(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = DiffusersEngine(resolve_model("tiny", models_dir), plan_device("cpu"), lightning_lora=HUB_LORA)
    fetched: list[tuple[str, str]] = []

    def hub_download(repo_id: str, filename: str, **options: Any) -> str:
        fetched.append((repo_id, filename))  # stands for the request huggingface_hub would make
        return str(ensure_tiny_lightning_lora(Path(engine._source.location), 4, engine._pipeline.transformer))

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub_download)
    engine.load()  # what the operator's settings fetch at load is theirs to allow
    at_load = list(fetched)
    assert at_load, "the operator's QIE_LIGHTNING_LORA is fetched as the model loads"
    request = EditRequest(prompt="make the sky blue", seed=5, lightning=True, num_inference_steps=4)
    for _ in range(2):
        assert engine.edit([noise_image(64, 64, seed=3)], request).image.size[0] > 0
    assert fetched == at_load, f"jobs made the service fetch {fetched[len(at_load) :]}"
