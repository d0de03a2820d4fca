"""What the page needs for Lightning and LoRAs: GET /api/loras, the limits, and jobs that record what ran."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.engine.loras import make_tiny_lora
from qwen_image_editor.services import build_services
from tests.api.conftest import make_settings, submit, wait_for
from tests.live_server import LiveServer, live_server

# Making a LoRA imports diffusers the first time: ~7 s on an idle machine, over 30 s on a loaded one, too close
# to the suite's 60 s per test (a limit for hangs, not for slow machines).
pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path)
    make_tiny_lora(settings.loras_dir / "style.safetensors")
    (settings.loras_dir / "notes.txt").write_text("not a LoRA")
    engine = FakeEngine(step_seconds=0.0, loras_dir=settings.loras_dir)
    with live_server(build_services(settings, engine=engine)) as running:
        yield running


def test_the_lora_list_names_the_safetensors_files(server: LiveServer, tmp_path: Path) -> None:
    body = server.http.get("/api/loras").json()
    size = (tmp_path / "loras" / "style.safetensors").stat().st_size
    assert body == {"loras": [{"name": "style", "size_bytes": size, "matches": None, "reason": None}]}


def test_limits_carry_the_lightning_steps_and_the_lora_bounds(server: LiveServer) -> None:
    limits = server.http.get("/api/limits").json()
    assert limits["lightning_steps"] == [4, 8]
    assert (limits["max_loras"], limits["min_lora_weight"], limits["max_lora_weight"]) == (3, -2.0, 2.0)


def test_a_lightning_job_records_the_settings_it_ran_with(server: LiveServer) -> None:
    response = submit(
        server.http, lightning=True, num_inference_steps=50, true_cfg_scale=4.0, loras=[{"name": "style"}]
    )
    assert response.status_code == 202, response.text
    job = wait_for(server.http, response.json()["job_id"], {"complete", "error"})
    assert job["status"] == "complete", job["error"]
    config = job["config"]
    assert (config["lightning"], config["num_inference_steps"], config["true_cfg_scale"]) == (True, 8, 1.0)
    assert config["loras"] == [{"name": "style", "weight": 1.0}]


@pytest.mark.parametrize(
    ("loras", "problem"),
    [
        ([{"name": "../etc/passwd"}], "loras.0.name"),
        ([{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}], "at most 3"),
        ([{"name": "style"}, {"name": "style"}], "each LoRA may be named once"),
        ([{"name": "style", "weight": 3}], "loras.0.weight"),
    ],
)
def test_bad_lora_choices_are_refused_at_submit(
    server: LiveServer, loras: list[dict[str, object]], problem: str
) -> None:
    response = submit(server.http, loras=loras)
    assert response.status_code == 422
    assert problem in response.json()["detail"]


def test_a_missing_lora_fails_that_job_alone(server: LiveServer) -> None:
    failed = wait_for(
        server.http, submit(server.http, loras=[{"name": "nope"}]).json()["job_id"], {"error", "complete"}
    )
    assert failed["status"] == "error" and "no LoRA named 'nope'" in failed["error"]
    fine = wait_for(server.http, submit(server.http).json()["job_id"], {"error", "complete"})
    assert fine["status"] == "complete"
