"""`qie serve --model tiny-2.1` (issue 18, done when): the real tiny Qwen-Image-2.1 pipeline behind a real server,
driven through the API, the openai package, the Python client and `qie remote`: ten references (and eleven
refused), an image from the instruction alone, transparency, seeds, per-step progress, cancel, and the model's
own limits."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from qwen_image_editor.client import Client, ServerError
from tests.api.conftest import png_bytes
from tests.api.test_transparency import alpha_of, cut_out, encoded, opened
from tests.conftest import FAST_21_RESOLUTION
from tests.live_server import free_port
from tests.serve_process import serve_process
from tests.test_cli_keys import QIE
from tests.test_crash_recovery import PATIENCE

pytestmark = [pytest.mark.process, pytest.mark.model, pytest.mark.timeout(900)]
# A job (ten references included) on a loaded 2-core machine, and every HTTP request's timeout: the server
# answers at once, but a machine running the whole suite may leave this process waiting for a long time.
JOB_PATIENCE = 600.0

# `qie serve` with Qwen-Image-2.1 drawing at FAST_21_RESOLUTION² instead of its published 1024² (TINY_MODEL.md's
# test-speed trick, as test_model_21 does in-process): each job here takes seconds, not a minute. test_cli_21
# runs the tiny twin at the published size.
SERVE = f"""
import sys
from qwen_image_editor.engine import families
families.QWEN_IMAGE_21_RESOLUTION = {FAST_21_RESOLUTION}
from qwen_image_editor.cli import app
app(sys.argv[1:])
"""
TEN_IS_THE_LIMIT = "takes 0 to 10 images, not 11"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("serve-21")
    port = free_port()
    env = {**os.environ, "QIE_RETENTION_HOURS": "0", "QIE_OPENAI_WAIT_SECONDS": str(JOB_PATIENCE)}
    command = [sys.executable, "-c", SERVE, "serve", "--model", "tiny-2.1", "--data-dir", str(data_dir),
               "--port", str(port)]  # fmt: skip
    # Its output goes to a file: a pipe nobody reads fills after ~1000 access-log lines (64 KiB), and the server
    # then blocks on its next log line, every request with it.
    with serve_process(command, port=port, env=env, log=data_dir / "server.log", patience=PATIENCE):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=JOB_PATIENCE) as client:
        yield client


def submit(http: httpx.Client, images: list[bytes], **config: Any) -> str:
    files = [(f"image{n}", (f"{n}.png", data, "image/png")) for n, data in enumerate(images, start=1)]
    config = {"prompt": "put the cut-out on a beach", "num_inference_steps": 2, **config}
    answer = http.post("/api/edit", files=files, data={"config": json.dumps(config)})
    assert answer.status_code == 202, answer.text
    job_id: str = answer.json()["job_id"]
    return job_id


def finished(http: httpx.Client, job_id: str) -> dict[str, Any]:
    with Client(str(http.base_url), timeout=JOB_PATIENCE) as client:
        return client.job(job_id).wait(JOB_PATIENCE)


def result(http: httpx.Client, job: dict[str, Any]) -> Image.Image:
    assert job["status"] == "complete", job
    answer = http.get(job["outputs"][0])
    assert answer.status_code == 200, answer.text
    return opened(answer.content)


def test_the_limits_are_qwen_image_21s(http: httpx.Client) -> None:
    limits = http.get("/api/limits").json()
    assert (limits["model_name"], limits["min_images"], limits["max_images"]) == ("Qwen-Image-2.1", 0, 10)
    assert limits["license"]["name"] == "Qwen Research License" and limits["no_previews_because"]
    assert http.get("/api/health").json()["license"]["id"] == limits["license"]["id"]


def test_ten_references_and_none_through_the_api(http: httpx.Client) -> None:
    files = [(f"image{n}", (f"{n}.png", png_bytes(96, 64, seed=n), "image/png")) for n in range(1, 11)]
    config = {"prompt": "<image1> in the style of <image10>", "num_inference_steps": 2, "seed": 3}
    ten = http.post("/api/edit", files=files, data={"config": json.dumps(config)})
    assert ten.status_code == 202, ten.text
    eleven = [*files, ("image11", ("11.png", png_bytes(seed=11), "image/png"))]
    refused = http.post("/api/edit", files=eleven, data={"config": json.dumps(config)})
    assert refused.status_code == 422 and TEN_IS_THE_LIMIT in refused.json()["detail"]
    alone = http.post("/api/edit", data={"config": json.dumps({"prompt": "a red kite", "num_inference_steps": 2})})
    assert alone.status_code == 202, alone.text
    for job_id in (ten.json()["job_id"], alone.json()["job_id"]):
        job = finished(http, job_id)
        assert job["status"] == "complete", job
    assert len(finished(http, ten.json()["job_id"])["inputs"]) == 10


def test_the_openai_package_creates_an_image(server: str) -> None:
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="sk-any", max_retries=0, timeout=JOB_PATIENCE)
    answer = client.images.generate(prompt="a lighthouse", size="512x384", extra_body={"steps": 2, "seed": 1})
    assert answer.data[0].b64_json is not None
    assert Image.open(io.BytesIO(base64.b64decode(answer.data[0].b64_json))).size == (512, 384)


def test_the_openai_package_edits_with_three_references(server: str, http: httpx.Client) -> None:
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="sk-any", max_retries=0, timeout=JOB_PATIENCE)
    images = [(f"{n}.png", png_bytes(96, 64, seed=n), "image/png") for n in (1, 2, 3)]
    answer = client.images.edit(
        image=images, prompt="<image1> wearing the hat of <image3>", size="96x64", response_format="b64_json",
        extra_body={"steps": 2, "seed": 4},
    )  # fmt: skip
    assert len(answer.data) == 1 and answer.data[0].b64_json is not None
    edited = Image.open(io.BytesIO(base64.b64decode(answer.data[0].b64_json)))
    assert edited.size == (96, 64)
    # A normal job, with its three references and the settings asked for.
    job = http.get("/api/jobs", params={"limit": 1}).json()["jobs"][0]
    assert len(job["inputs"]) == 3 and job["config"]["seed"] == 4 and job["config"]["num_inference_steps"] == 2


def remote_edit(server: str, images: list[Path], out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [QIE, "remote", "edit", *map(str, images), "-p", "a hat on <image1>", "-o", str(out), "--steps", "2",
         "--server", server],
        capture_output=True, text=True, timeout=JOB_PATIENCE, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def test_qie_remote_creates_edits_with_ten_references_and_refuses_eleven(server: str, tmp_path: Path) -> None:
    references = []
    for n in range(1, 12):
        references.append(tmp_path / f"reference-{n}.png")
        references[-1].write_bytes(png_bytes(80, 64, seed=n))
    for images, out in (([], tmp_path / "created.png"), (references[:10], tmp_path / "edited.png")):
        done = remote_edit(server, images, out)
        assert done.returncode == 0, done.stdout + done.stderr
        assert Image.open(out).size[0] > 0
    refused = remote_edit(server, references, tmp_path / "eleven.png")
    assert refused.returncode == 2, refused.stdout + refused.stderr  # a usage error: the command must change
    assert TEN_IS_THE_LIMIT in refused.stderr and not (tmp_path / "eleven.png").exists()


def test_the_python_client_sends_ten_references_and_is_refused_eleven(server: str) -> None:
    references = [png_bytes(80, 64, seed=n) for n in range(1, 12)]
    with Client(server, timeout=JOB_PATIENCE) as client:
        job = client.edit(references[:10], "<image1> among <image10>", num_inference_steps=2, seed=9)
        assert job.wait(JOB_PATIENCE)["status"] == "complete", job.view
        assert len(job.view["inputs"]) == 10 and job.view["config"]["seed"] == 9
        with pytest.raises(ServerError) as refused:
            client.edit(references, "<image1> among <image11>", num_inference_steps=2)
    assert refused.value.status == 422 and TEN_IS_THE_LIMIT in refused.value.message


def test_rgba_in_gives_rgba_png_out_and_a_jpeg_is_flattened_on_white(http: httpx.Client) -> None:
    sent = cut_out(128, 96)
    png_job = finished(http, submit(http, [encoded(sent)], output_format="png", seed=5))
    assert png_job["flattened"] is False
    stored = opened(http.get(png_job["inputs"][0]).content)
    assert stored.mode == "RGBA" and np.array_equal(alpha_of(stored), alpha_of(sent))
    png = result(http, png_job)
    assert png.format == "PNG" and png.mode == "RGBA"
    assert alpha_of(png).min() < 255  # the model's own alpha (random weights: anything but all opaque)
    jpeg_job = finished(http, submit(http, [encoded(sent)], output_format="jpeg", seed=5))
    assert jpeg_job["flattened"] is True
    listed = http.get("/api/jobs").json()["jobs"]
    assert [job["flattened"] for job in listed if job["job_id"] == jpeg_job["job_id"]] == [True]
    jpeg = result(http, jpeg_job)
    assert jpeg.format == "JPEG" and jpeg.mode == "RGB"
    # The same seed's PNG, composited on white, is what the JPEG shows (JPEG's own loss aside).
    on_white = Image.alpha_composite(Image.new("RGBA", png.size, "white"), png).convert("RGB")
    on_black = Image.alpha_composite(Image.new("RGBA", png.size, "black"), png).convert("RGB")
    error = np.abs(np.asarray(jpeg, dtype=float) - np.asarray(on_white, dtype=float)).mean()
    assert error < np.abs(np.asarray(jpeg, dtype=float) - np.asarray(on_black, dtype=float)).mean() / 2, error


def test_the_same_seed_gives_the_same_pixels(http: httpx.Client) -> None:
    images = [png_bytes(96, 64, seed=1), png_bytes(64, 96, seed=2)]
    first, again, other = (submit(http, images, seed=seed) for seed in (31, 31, 32))
    pixels = [np.asarray(result(http, finished(http, job_id))) for job_id in (first, again, other)]
    assert np.array_equal(pixels[0], pixels[1])
    assert not np.array_equal(pixels[0], pixels[2])


def test_progress_comes_once_per_step_and_a_running_job_is_cancelled(server: str, http: httpx.Client) -> None:
    """A long job runs; a short one waits behind it with its WebSocket open (so no step can pass unseen); the long
    one is cancelled mid-run, and the short one then reports each of its steps."""
    running = submit(http, [png_bytes(96, 64, seed=1)], num_inference_steps=150)
    watched = submit(http, [png_bytes(96, 64, seed=2)], num_inference_steps=4)
    messages: list[dict[str, Any]] = []
    listening = threading.Event()

    def listen() -> None:
        with Client(server, timeout=JOB_PATIENCE) as client:
            for message in client.job(watched).progress():
                messages.append(message)
                listening.set()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert listening.wait(PATIENCE), "the WebSocket sent no snapshot"
    assert messages[0]["status"] == "queued"
    with Client(server, timeout=JOB_PATIENCE) as client:
        job = client.job(running)
        deadline = time.monotonic() + JOB_PATIENCE
        while (job.refresh()["progress"] or {}).get("step") is None:  # denoising, not only preparing
            assert job.status in ("queued", "processing") and time.monotonic() < deadline, job.view
            time.sleep(0.2)
        job.cancel()
        assert job.wait(JOB_PATIENCE)["status"] == "cancelled", job.view
        assert job.view["progress"]["step"] < 150 and job.view["outputs"] == []
    listener.join(JOB_PATIENCE)
    assert not listener.is_alive() and messages[-1]["status"] == "complete", messages[-1]
    steps = [m["progress"]["step"] for m in messages if m["type"] == "progress" and m["progress"]["step"]]
    assert steps == [1, 2, 3, 4]
    assert {m["progress"]["total_steps"] for m in messages if m["type"] == "progress" and m["progress"]["step"]} == {4}
