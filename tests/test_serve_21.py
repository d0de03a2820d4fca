"""`qie serve --model tiny-2.1` (issue 18, done when): the real tiny Qwen-Image-2.1 pipeline behind a real server,
driven through the API, the openai package and `qie remote`: ten references, an image from the instruction
alone, and the model's own limits."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image

from tests.api.conftest import png_bytes
from tests.live_server import free_port
from tests.serve_process import wait_until_answering
from tests.test_cli_keys import QIE
from tests.test_crash_recovery import PATIENCE

pytestmark = [pytest.mark.process, pytest.mark.model, pytest.mark.timeout(900)]
# Two steps at the model's own ~1 MP on a loaded 2-core machine, ten references included.
JOB_PATIENCE = 600.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("serve-21")
    port = free_port()
    env = {**os.environ, "QIE_RETENTION_HOURS": "0", "QIE_OPENAI_WAIT_SECONDS": str(JOB_PATIENCE)}
    process = subprocess.Popen(
        [QIE, "serve", "--model", "tiny-2.1", "--data-dir", str(data_dir), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(process, f"{url}/api/health", PATIENCE)
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=PATIENCE)


def finished(http: httpx.Client, job_id: str) -> dict[str, object]:
    deadline = time.monotonic() + JOB_PATIENCE
    while time.monotonic() < deadline:
        job: dict[str, object] = http.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("complete", "error", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish within {JOB_PATIENCE:g} s")


def test_the_limits_are_qwen_image_21s(server: str) -> None:
    limits = httpx.get(f"{server}/api/limits", timeout=PATIENCE).json()
    assert (limits["model_name"], limits["min_images"], limits["max_images"]) == ("Qwen-Image-2.1", 0, 10)
    assert limits["license"]["name"] == "Qwen Research License" and limits["no_previews_because"]
    assert httpx.get(f"{server}/api/health", timeout=PATIENCE).json()["license"]["id"] == limits["license"]["id"]


def test_ten_references_and_none_through_the_api(server: str) -> None:
    with httpx.Client(base_url=server, timeout=PATIENCE) as http:
        files = [(f"image{n}", (f"{n}.png", png_bytes(96, 64, seed=n), "image/png")) for n in range(1, 11)]
        config = {"prompt": "<image1> in the style of <image10>", "num_inference_steps": 2, "seed": 3}
        ten = http.post("/api/edit", files=files, data={"config": json.dumps(config)})
        assert ten.status_code == 202, ten.text
        eleven = [*files, ("image11", ("11.png", png_bytes(seed=11), "image/png"))]
        refused = http.post("/api/edit", files=eleven, data={"config": json.dumps(config)})
        assert refused.status_code == 422 and "takes 0 to 10 images, not 11" in refused.json()["detail"]
        alone = http.post("/api/edit", data={"config": json.dumps({"prompt": "a red kite", "num_inference_steps": 2})})
        assert alone.status_code == 202, alone.text
        for job_id in (ten.json()["job_id"], alone.json()["job_id"]):
            job = finished(http, job_id)
            assert job["status"] == "complete", job


def test_the_openai_package_creates_an_image(server: str) -> None:
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="sk-any", max_retries=0, timeout=JOB_PATIENCE)
    answer = client.images.generate(prompt="a lighthouse", size="512x384", extra_body={"steps": 2, "seed": 1})
    assert answer.data[0].b64_json is not None
    assert Image.open(io.BytesIO(base64.b64decode(answer.data[0].b64_json))).size == (512, 384)


def test_qie_remote_creates_and_edits(server: str, tmp_path: Path) -> None:
    reference = tmp_path / "hat.png"
    reference.write_bytes(png_bytes(80, 80, seed=5))
    for images, out in (([], tmp_path / "created.png"), ([reference, reference], tmp_path / "edited.png")):
        result = subprocess.run(
            [QIE, "remote", "edit", *map(str, images), "-p", "a hat on <image1>", "-o", str(out),
             "--steps", "2", "--server", server],
            capture_output=True, text=True, timeout=JOB_PATIENCE,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert Image.open(out).size[0] > 0
