"""Inputs fitted to the model ahead of the edit, on the worker's prepare thread: the same pixels as fitting
inside the edit, exact sizes kept, and the work off the model's thread."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus import calculate_dimensions
from PIL import Image

from qwen_image_editor.application.lifecycle import JobLifecycle
from qwen_image_editor.blobs.local import LocalBlobStore
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.events.local import LocalEventBus
from qwen_image_editor.jobs.ids import new_job_id
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.store.sql import SqlJobStore
from qwen_image_editor.worker.heartbeat import WorkerTiming
from qwen_image_editor.worker.runner import Worker
from tests.conftest import FAST_AREA, noise_image

pytestmark = pytest.mark.usefixtures("fast_area")


def request(**fields: Any) -> EditRequest:
    return EditRequest.model_validate({"prompt": "make the sky blue", "num_inference_steps": 2, "seed": 7, **fields})


def test_edit_plus_inputs_are_fitted_to_the_vae_size_with_the_same_result(edit_plus_engine: DiffusersEngine) -> None:
    images = [noise_image(400, 300, seed=1), noise_image(320, 200, seed=2)]
    fitted = edit_plus_engine.fit_inputs(images)
    # Each at the size the pipeline resizes it to for its VAE (256² here, ~1 MP with the real sizes).
    assert [image.size for image in fitted] == [
        calculate_dimensions(FAST_AREA, 4 / 3),
        calculate_dimensions(FAST_AREA, 1.6),
    ]
    assert [image.size for image in edit_plus_engine.fit_inputs(fitted)] == [image.size for image in fitted]
    # What the worker runs (fitted ahead) is exactly what `qie edit` runs (fitted inside the edit).
    ahead = edit_plus_engine.edit(fitted, request())
    inside = edit_plus_engine.edit(images, request())
    assert np.array_equal(np.asarray(ahead.image), np.asarray(inside.image))


def test_the_original_edit_model_takes_its_inputs_as_they_are(edit_engine: DiffusersEngine) -> None:
    images = [noise_image(400, 300, seed=1), noise_image(320, 200, seed=2).convert("L")]
    fitted = edit_engine.fit_inputs(images)
    assert [(image.size, image.mode) for image in fitted] == [((400, 300), "RGB"), ((320, 200), "RGB")]


def test_the_worker_fits_the_next_jobs_inputs_on_its_prepare_thread_and_keeps_exact_sizes(
    tmp_path: Path, edit_plus_engine: DiffusersEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqlJobStore(f"sqlite:///{tmp_path / 'qie.db'}")
    blobs = LocalBlobStore(tmp_path / "jobs")
    timing = WorkerTiming(lease_seconds=30, heartbeat_seconds=0.05, poll_seconds=0.01)
    worker = Worker(store, blobs, edit_plus_engine, JobLifecycle(store, LocalEventBus()), "worker-a", timing)
    fitted_on: list[str] = []
    real_fit = edit_plus_engine.fit_inputs

    def recording_fit(images: list[Image.Image]) -> list[Image.Image]:
        fitted_on.append(threading.current_thread().name)
        return real_fit(images)

    monkeypatch.setattr(edit_plus_engine, "fit_inputs", recording_fit)
    jobs = []
    for n, keep in enumerate([False, True]):
        job_id = new_job_id()
        blobs.save_input(job_id, 1, noise_image(203, 131, seed=n))
        jobs.append(store.create_job(job_id, request(seed=n, keep_input_size=keep), 1))
    assert worker.run_until_idle() == 2
    # The first job is prepared when the worker finds it, the second while the first edit runs; each edit
    # fits again, which costs nothing for fitted inputs.
    assert fitted_on == ["MainThread", "MainThread", "qie-prepare", "MainThread"]
    first, second = (store.get_job(job.id) for job in jobs)
    assert first.status is second.status is JobStatus.COMPLETE
    with Image.open(io.BytesIO(blobs.read_bytes(second.id, "output_1.png"))) as result:
        assert result.size == (203, 131)  # the input's size, although the model took it fitted
