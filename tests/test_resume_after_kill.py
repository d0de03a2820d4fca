"""Restarts resume (issue 21, point 7), end to end: `qie serve` on the tiny model is killed (SIGKILL) mid-job once a
checkpoint is saved, started again, and the job continues after the saved step, to the very pixels of a run that
was never interrupted."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.worker.checkpoints import unpack
from tests.api.conftest import png_bytes, submit, wait_for
from tests.conftest import FAST_AREA
from tests.live_server import free_port
from tests.serve_process import serve_process

pytestmark = pytest.mark.process

PATIENCE = 240.0  # a start, a step, a job's end on a loaded two-core machine; free when it happens sooner
STEPS = 24
EVERY = 2

# `qie serve` with the pipelines aiming at FAST_AREA instead of ~1 MP (the tiny model's test-speed trick,
# TINY_MODEL.md, as the `fast_area` fixture does in-process): a few steps a second instead of one in seconds.
SERVE = f"""
import sys
from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit_plus as plus
original = plus.calculate_dimensions
plus.calculate_dimensions = lambda area, ratio: original(min(area, {FAST_AREA}), ratio)
plus.VAE_IMAGE_SIZE = {FAST_AREA}
from qwen_image_editor.cli import app
app(sys.argv[1:])
"""


@contextmanager
def tiny_server(data_dir: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "QIE_MODEL": "tiny",
        "QIE_DEVICE": "cpu",
        "QIE_CHECKPOINT_EVERY_STEPS": str(EVERY),
        "QIE_LEASE_SECONDS": "3600",  # the rerun comes from the restart itself, never from a lease running out
        "QIE_RETENTION_HOURS": "0",
    }
    command = [sys.executable, "-c", SERVE, "serve", "--data-dir", str(data_dir), "--port", str(port)]
    with serve_process(command, port=port, env=env, log=data_dir.parent / f"server-{port}.log", patience=PATIENCE) as p:
        yield p


def result_pixels(http: httpx.Client, job_id: str) -> np.ndarray:
    answer = http.get(f"/api/jobs/{job_id}/files/output_1.png")
    assert answer.status_code == 200, answer.text
    with Image.open(io.BytesIO(answer.content)) as image:
        return np.asarray(image.convert("RGB"))


def edit(http: httpx.Client) -> str:
    config: dict[str, Any] = {"prompt": "a red hat", "num_inference_steps": STEPS, "seed": 1234}
    answer = submit(http, images=[png_bytes(128, 96, seed=3)], **config)
    assert answer.status_code in (200, 202), answer.text
    job_id: str = answer.json()["job_id"]
    return job_id


def test_a_job_killed_mid_run_continues_after_its_checkpoint_to_the_uninterrupted_pixels(
    tmp_path: Path, edit_plus_engine: DiffusersEngine
) -> None:
    data_dir, port = tmp_path / "data", free_port()
    data_dir.mkdir()
    # the tiny model the session built (`edit_plus_engine`), not one built again for this server
    (data_dir / "models").symlink_to(Path(edit_plus_engine._source.location).parent)
    url = f"http://127.0.0.1:{port}"
    with tiny_server(data_dir, port) as first, httpx.Client(base_url=url, timeout=PATIENCE) as http:
        job_id = edit(http)
        checkpoint = data_dir / "jobs" / job_id / "checkpoint.zip"
        deadline = time.monotonic() + PATIENCE
        while not checkpoint.is_file():
            assert time.monotonic() < deadline, "no checkpoint was saved"
            time.sleep(0.005)
        first.send_signal(signal.SIGKILL)  # mid-job: the last checkpoint is saved long before the last step
        first.wait(30)
    saved = unpack(checkpoint.read_bytes()).checkpoint
    assert EVERY <= saved.step < STEPS and saved.step % EVERY == 0

    with tiny_server(data_dir, port), httpx.Client(base_url=url, timeout=PATIENCE) as http:
        observed: list[dict[str, Any]] = []
        deadline = time.monotonic() + PATIENCE
        while (job := http.get(f"/api/jobs/{job_id}").json())["status"] not in {"complete", "error", "cancelled"}:
            assert time.monotonic() < deadline, f"the job did not end: {job}"
            if job["progress"] and job["progress"]["step"] is not None:
                observed.append(job["progress"])
            time.sleep(0.005)
        assert job["status"] == "complete", job
        assert job["requeue_reason"] == "restart"
        # the resumed run counted on from the saved step: never a step at or before it, and it says so
        assert observed and all(progress["step"] > saved.step for progress in observed), observed
        assert {progress["resumed_from_step"] for progress in observed} == {saved.step}
        assert job["progress"]["resumed_from_step"] == saved.step  # the finished job's view says so
        assert not checkpoint.exists()  # gone with the job's end
        resumed = result_pixels(http, job_id)

        again = wait_for(http, edit(http), {"complete", "error"}, PATIENCE)  # the same edit, never interrupted
        assert again["status"] == "complete", again
        assert again["progress"] is None or again["progress"].get("resumed_from_step") is None
        assert np.array_equal(resumed, result_pixels(http, again["job_id"]))
    log = (tmp_path / f"server-{port}.log").read_text()
    assert f"continuing an edit from its checkpoint after step {saved.step} of {STEPS}" in log
