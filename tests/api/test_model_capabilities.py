"""What a model can do is stated once (issue 18, point 1): the server's limits, its health, and every way in
(the API, the OpenAI route) follow the configured model's family, here a 2511 server and a Qwen-Image-2.1 one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from qwen_image_editor.engine.capabilities import capabilities_of
from qwen_image_editor.model_families import FAMILIES, ModelFamily
from tests.api.conftest import PATIENCE, png_bytes, wait_for
from tests.live_server import LiveServer

QWEN_21 = FAMILIES[ModelFamily.IMAGE_21]


def post_edit(http: httpx.Client, count: int, **config: Any) -> httpx.Response:
    files = [(f"image{n}", (f"{n}.png", png_bytes(seed=n), "image/png")) for n in range(1, count + 1)]
    config.setdefault("prompt", "put the hat from <image2> on the person in <image1>")
    return http.post("/api/edit", files=files or None, data={"config": json.dumps(config)})


def test_limits_and_health_state_the_2511_models_capabilities_and_license(edit_2511: LiveServer) -> None:
    limits = edit_2511.http.get("/api/limits").json()
    assert (limits["min_images"], limits["max_images"], limits["text_to_image"], limits["alpha"]) == (
        1,
        3,
        False,
        False,
    )
    assert (limits["default_steps"], limits["default_cfg"], limits["max_cfg"]) == (50, 4.0, 20.0)
    assert limits["lightning_steps"] == [4, 8] and "Lightning" in limits["fast"]
    assert limits["license"]["id"] == "Apache-2.0"
    assert edit_2511.http.get("/api/health").json()["license"]["name"] == "Apache License 2.0"


def test_limits_and_health_state_qwen_image_21s_capabilities_and_license(image_21: LiveServer) -> None:
    limits = image_21.http.get("/api/limits").json()
    capabilities = (limits["min_images"], limits["max_images"], limits["text_to_image"], limits["alpha"])
    assert capabilities == (0, 10, True, True)
    assert (limits["default_steps"], limits["default_cfg"], limits["model_name"]) == (40, 1.0, "Qwen-Image-2.1")
    assert limits["lightning_steps"] == [8] and "8 steps" in limits["fast"]
    assert limits["license"]["name"] == "Qwen Research License"
    assert image_21.http.get("/api/health").json()["license"]["id"] == QWEN_21.license.id


def test_a_2511_server_refuses_a_fourth_image_and_a_job_without_one(edit_2511: LiveServer) -> None:
    four = post_edit(edit_2511.http, 4)
    assert four.status_code == 422 and "takes 1 to 3 images, not 4" in four.json()["detail"]
    none = post_edit(edit_2511.http, 0, prompt="a lighthouse at dusk")
    assert none.status_code == 422
    assert "cannot make one from text alone" in none.json()["detail"] and "Qwen-Image-2.1" in none.json()["detail"]
    assert edit_2511.http.get("/api/jobs").json()["total"] == 0


def test_a_21_server_takes_ten_references_and_refuses_eleven_naming_the_limit(image_21: LiveServer) -> None:
    ten = post_edit(image_21.http, 10, num_inference_steps=2)
    assert ten.status_code == 202, ten.text
    assert wait_for(image_21.http, ten.json()["job_id"], {"complete"})["inputs"][-1].endswith("input_10.png")
    eleven = post_edit(image_21.http, 11)
    assert eleven.status_code == 422 and "Qwen-Image-2.1 takes 0 to 10 images, not 11" in eleven.json()["detail"]


def test_a_21_server_makes_an_image_from_the_instruction_alone(image_21: LiveServer) -> None:
    response = post_edit(image_21.http, 0, prompt="a lighthouse at dusk", num_inference_steps=2)
    assert response.status_code == 202, response.text
    job = wait_for(image_21.http, response.json()["job_id"], {"complete", "error"}, timeout=PATIENCE)
    assert job["status"] == "complete" and job["inputs"] == []
    assert image_21.http.get(f"/api/jobs/{job['job_id']}/download").status_code == 200


def test_what_a_request_leaves_out_gets_the_models_defaults_and_its_range(
    edit_2511: LiveServer, image_21: LiveServer
) -> None:
    assert post_edit(edit_2511.http, 1).json()["config"]["num_inference_steps"] == 50
    recorded = post_edit(image_21.http, 1).json()["config"]
    assert (recorded["num_inference_steps"], recorded["true_cfg_scale"]) == (40, 1.0)
    fast = post_edit(image_21.http, 1, lightning=True).json()["config"]
    assert (fast["num_inference_steps"], fast["true_cfg_scale"]) == (8, 1.0)
    too_strong = post_edit(image_21.http, 1, true_cfg_scale=6)
    assert (
        too_strong.status_code == 422 and "Qwen-Image-2.1 takes guidance 1 to 5, not 6" in too_strong.json()["detail"]
    )
    assert post_edit(edit_2511.http, 1, true_cfg_scale=6).status_code == 202


def test_the_openai_route_takes_as_many_images_as_the_model(image_21: LiveServer, edit_2511: LiveServer) -> None:
    def openai_edit(server: LiveServer, count: int) -> httpx.Response:
        files = [("image[]", (f"{n}.png", png_bytes(seed=n), "image/png")) for n in range(1, count + 1)]
        data = {"prompt": "make it dusk", "steps": "2"}
        return server.http.post("/v1/images/edits", files=files, data=data)

    assert openai_edit(image_21, 5).status_code == 200
    refused = openai_edit(edit_2511, 5)
    assert refused.status_code == 400 and "takes 1 to 3 images, not 5" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("Qwen/Qwen-Image-Edit", ModelFamily.EDIT),
        ("Qwen/Qwen-Image-Edit-2509", ModelFamily.EDIT_2509),
        ("Qwen/Qwen-Image-Edit-2511", ModelFamily.EDIT_2511),
        ("Qwen/Qwen-Image-2.1", ModelFamily.IMAGE_21),
        ("auto", ModelFamily.EDIT_2511),
        ("tiny", ModelFamily.EDIT_2511),
        ("tiny-edit", ModelFamily.EDIT),
        ("tiny-2.1", ModelFamily.IMAGE_21),
        ("fake-2.1", ModelFamily.IMAGE_21),
    ],
)
def test_a_models_family_is_known_from_its_name_without_its_files(
    tmp_path: Path, model: str, family: ModelFamily
) -> None:
    assert capabilities_of(model, tmp_path).family is family
    assert not any(tmp_path.iterdir())  # nothing built, nothing downloaded


@pytest.mark.parametrize(
    ("pipeline", "transformer", "family"),
    [
        ("QwenImageEditPipeline", {}, ModelFamily.EDIT),
        ("QwenImageEditPlusPipeline", {}, ModelFamily.EDIT_2509),
        ("QwenImageEditPlusPipeline", {"zero_cond_t": True}, ModelFamily.EDIT_2511),
        ("QwenImage21Pipeline", {}, ModelFamily.IMAGE_21),
    ],
)
def test_a_local_folders_family_comes_from_its_model_index(
    tmp_path: Path, pipeline: str, transformer: dict[str, Any], family: ModelFamily
) -> None:
    folder = tmp_path / "my-model"
    (folder / "transformer").mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": pipeline}))
    (folder / "transformer" / "config.json").write_text(json.dumps(transformer))
    assert capabilities_of(str(folder), tmp_path / "models").family is family
