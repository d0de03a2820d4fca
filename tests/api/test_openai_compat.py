"""`POST /v1/images/edits` through the official openai package, against a live server: sync and async."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image

from tests.api.conftest import png_bytes
from tests.api.test_access import Keyed, keyed_server
from tests.live_server import LiveServer


def sdk(server: LiveServer, key: str = "sk-anything") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=30)


def image_file(seed: int = 1) -> tuple[str, bytes, str]:
    return (f"in{seed}.png", png_bytes(seed=seed), "image/png")


def test_b64_json_edit_is_a_normal_job_in_the_history(server: LiveServer) -> None:
    result = sdk(server).images.edit(
        image=image_file(),
        prompt="make the sky stormy",
        model="qwen-image-edit",
        response_format="b64_json",
        extra_body={"seed": 42, "steps": 3, "guidance": 2.5},
    )
    assert len(result.data) == 1 and result.data[0].url is None
    decoded = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json or "")))
    assert decoded.format == "PNG"
    history = server.http.get("/api/jobs").json()["jobs"]
    assert len(history) == 1 and history[0]["status"] == "complete"
    config = history[0]["config"]
    assert (config["seed"], config["num_inference_steps"], config["true_cfg_scale"]) == (42, 3, 2.5)
    assert result.created == int(result.created)


def test_url_format_with_two_images_and_two_variations(server: LiveServer) -> None:
    result = sdk(server).images.edit(
        image=[image_file(1), image_file(2)],
        prompt="put the hat from picture 2 on the person in picture 1",
        n=2,
        size="80x40",
        response_format="url",
        extra_body={"steps": 2},
    )
    assert len(result.data) == 2
    for item in result.data:
        assert item.url is not None and item.url.startswith(server.url)
        fetched = httpx.get(item.url)
        assert fetched.status_code == 200
        assert Image.open(io.BytesIO(fetched.content)).size == (80, 40)  # size=WxH is honoured
    job = server.http.get("/api/jobs").json()["jobs"][0]
    assert job["inputs"] and len(job["inputs"]) == 2 and len(job["outputs"]) == 2


def test_errors_come_in_openais_shape(server: LiveServer) -> None:
    client = sdk(server)
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.edit(image=image_file(), prompt="make it snow", n=9)
    assert refused.value.status_code == 400
    body = refused.value.body
    assert isinstance(body, dict) and body["type"] == "invalid_request_error" and body["param"] == "n"
    assert "n:" in body["message"]
    with pytest.raises(openai.APIStatusError) as no_image:
        client.images.edit(image=("a.txt", b"not an image", "text/plain"), prompt="make it snow")
    assert no_image.value.status_code == 415 and "not a JPEG, PNG, WebP, TIFF or HEIC" in str(no_image.value)
    raw = server.http.post("/v1/images/edits", data={"prompt": "x"})  # no image at all
    assert raw.status_code == 400
    assert set(raw.json()["error"]) == {"message", "type", "param", "code"}
    assert server.http.get("/v1/nothing-here").json()["error"]["type"] == "invalid_request_error"


def test_a_failed_job_is_a_server_error_not_to_be_retried(server: LiveServer) -> None:
    with pytest.raises(openai.InternalServerError) as failed:
        sdk(server).images.edit(image=image_file(), prompt="raise: the GPU caught fire", extra_body={"steps": 2})
    assert "the GPU caught fire" in str(failed.value)
    assert failed.value.response.headers["x-should-retry"] == "false"


def test_the_async_client_edits_too(server: LiveServer) -> None:
    async def edit() -> openai.types.ImagesResponse:
        async with openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0) as client:
            return await client.images.edit(image=image_file(), prompt="make it snow", extra_body={"steps": 2})

    result = asyncio.run(edit())
    assert result.data[0].b64_json


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Keyed]:
    yield from keyed_server(tmp_path)


def test_keys_are_bearer_tokens_and_refusals_are_in_openais_shape(keyed: Keyed) -> None:
    with pytest.raises(openai.AuthenticationError) as refused:
        sdk(keyed.server, key="qie_wrong").images.edit(image=image_file(), prompt="make it snow")
    body = refused.value.body
    assert isinstance(body, dict) and body["type"] == "authentication_error" and body["code"] == "invalid_api_key"
    result = sdk(keyed.server, key=keyed.alice).images.edit(
        image=image_file(), prompt="make it snow", extra_body={"steps": 2}
    )
    assert result.data[0].b64_json
    with keyed.client(keyed.bob) as bob:  # the job belongs to alice's key
        assert bob.get("/api/jobs").json()["total"] == 0
