"""`POST /v1/images/generations` through the official openai package (issue 18, point 4): a Qwen-Image-2.1 server
makes images from the instruction alone; a 2511 server says which models can."""

from __future__ import annotations

import base64
import io

import openai
import pytest
from PIL import Image

from tests.api.conftest import PATIENCE, png_bytes
from tests.live_server import LiveServer


def sdk(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-anything", max_retries=0, timeout=PATIENCE)


def decoded(b64: str | None) -> Image.Image:
    assert b64 is not None
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_a_21_server_makes_images_from_the_instruction_alone(image_21: LiveServer) -> None:
    answer = sdk(image_21).images.generate(
        prompt="a lighthouse at dusk, oil painting", n=2, size="640x384", extra_body={"seed": 7, "steps": 2}
    )
    assert [decoded(image.b64_json).size for image in answer.data] == [(640, 384), (640, 384)]
    job = image_21.http.get("/api/jobs", params={"limit": 1}).json()["jobs"][0]
    assert job["inputs"] == [] and job["config"]["seed"] == 7 and job["config"]["num_inference_steps"] == 2


def test_an_aspect_ratio_is_drawn_at_the_models_native_area(image_21: LiveServer) -> None:
    answer = sdk(image_21).images.generate(prompt="a wide bay", extra_body={"aspect_ratio": "16:9", "steps": 2})
    assert answer.size == "1376x768"  # ~1 MP in multiples of 32, 2.1's own sizes
    square = sdk(image_21).images.generate(prompt="a tower", response_format="url", extra_body={"steps": 2})
    width, height = square.size.split("x") if square.size else ("", "-")
    assert width == height and square.data[0].url is not None  # square: the model's own area (small in tests)


def test_a_2511_server_refuses_and_names_the_models_that_can(edit_2511: LiveServer) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        sdk(edit_2511).images.generate(prompt="a lighthouse at dusk")
    assert "cannot make one from text alone" in str(refused.value) and "Qwen-Image-2.1" in str(refused.value)
    assert edit_2511.http.get("/api/jobs").json()["total"] == 0


def test_bad_parameters_are_refused_in_openais_shape(image_21: LiveServer) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        sdk(image_21).images.generate(prompt="a tower", size="huge")
    assert refused.value.body["param"] == "size"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        sdk(image_21).images.generate(prompt="a tower", extra_body={"guidance": 9})


def test_edits_also_take_up_to_the_models_references(image_21: LiveServer) -> None:
    images = [(f"{n}.png", png_bytes(seed=n), "image/png") for n in range(1, 11)]
    answer = sdk(image_21).images.edit(
        image=images, prompt="<image1> wearing the hat of <image10>", extra_body={"steps": 2}
    )
    assert len(answer.data) == 1
