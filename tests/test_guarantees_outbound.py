"""GUARANTEES.md, "No server-side request forgery": the only outbound requests a user can cause are webhooks
(issue 19, point 14). The operator's settings may make the service fetch files from the Hugging Face Hub when the
model loads; a job must not make it reach out.

Today a Lightning job does: `DiffusersEngine._switch_for` calls `_lightning_file`, hence `resolve_file`, hence
`huggingface_hub.hf_hub_download`, on every Lightning job (not once at load). With the Hub online that is a request
to huggingface.co per job, which a user causes by asking for `lightning`. The target is fixed by the operator (the
family's Lightning LoRA, or QIE_LIGHTNING_LORA), so it is no request forgery, but it contradicts the claim as
written: hence the strict xfail, to be lifted when the file is resolved once (at load, or cached per step count)."""

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


@pytest.mark.xfail(
    strict=True,
    reason="GUARANTEES.md: a Lightning job calls hf_hub_download (a Hub request when online) on every job",
)
def test_a_lightning_job_makes_no_outbound_request(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = DiffusersEngine(resolve_model("tiny", models_dir), plan_device("cpu"), lightning_lora=HUB_LORA)
    engine.load()  # what the operator's settings fetch at load is theirs to allow
    local = ensure_tiny_lightning_lora(Path(engine._source.location), 4, engine._pipeline.transformer)
    fetched: list[tuple[str, str]] = []

    def hub_download(repo_id: str, filename: str, **options: Any) -> str:
        fetched.append((repo_id, filename))  # stands for the request huggingface_hub would make
        return str(local)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub_download)
    request = EditRequest(prompt="make the sky blue", seed=5, lightning=True, num_inference_steps=4)
    for _ in range(2):
        assert engine.edit([noise_image(64, 64, seed=3)], request).image.size[0] > 0
    assert fetched == [], f"jobs made the service fetch {fetched}"
