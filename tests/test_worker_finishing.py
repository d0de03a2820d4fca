"""The worker's finish stage: results encode on a small pool, two at once, while outcomes are recorded in the
order the model finished the jobs and only once their files are in place."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from qwen_image_editor.application.lifecycle import JobLifecycle
from qwen_image_editor.blobs.local import LocalBlobStore
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.events.local import LocalEventBus
from qwen_image_editor.jobs.ids import new_job_id
from qwen_image_editor.jobs.records import Job, JobRegion
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.regions import RegionEdit, plan_region, soft_mask
from qwen_image_editor.store.sql import SqlJobStore
from qwen_image_editor.worker.heartbeat import WorkerTiming
from qwen_image_editor.worker.runner import Worker
from tests.api.conftest import SMALL_OUTPUT_PIXELS
from tests.conftest import noise_image

TIMING = WorkerTiming(lease_seconds=30, heartbeat_seconds=0.05, poll_seconds=0.01, max_attempts=2)
WAIT = 60  # seconds: only ever reached when the behaviour under test is broken


class Pipeline:
    """A worker on a real SQLite store and folder whose `save_output` the test can hold per job, and which
    records the order of completions and whether each job's files were in place when it completed."""

    def __init__(self, tmp_path: Path, finish_threads: int) -> None:
        self.store = SqlJobStore(f"sqlite:///{tmp_path / 'qie.db'}")
        self.blobs = LocalBlobStore(tmp_path / "jobs")
        self.lifecycle = JobLifecycle(self.store, LocalEventBus())
        engine = FakeEngine(step_seconds=0, output_pixels=SMALL_OUTPUT_PIXELS)
        self.capabilities = engine.capabilities
        self.worker = Worker(self.store, self.blobs, engine, self.lifecycle, "worker-a", TIMING, finish_threads)
        self.saving: dict[str, threading.Event] = {}  # set when the job's save began
        self.release: dict[str, threading.Event] = {}  # the job's save waits for this
        self.completed: list[tuple[str, bool]] = []  # job id, whether its result file existed then
        real_save, real_complete = self.blobs.save_output, self.lifecycle.complete

        def held_save(job_id: str, *args: Any, **kwargs: Any) -> str:
            self.saving[job_id].set()
            assert self.release[job_id].wait(WAIT), f"the save of job {job_id} was never released"
            return real_save(job_id, *args, **kwargs)

        def recorded_complete(job_id: str, worker_id: str, names: list[str], **recorded: Any) -> None:
            in_place = all((tmp_path / "jobs" / job_id / name).is_file() for name in names)
            self.completed.append((job_id, in_place))
            real_complete(job_id, worker_id, names, **recorded)

        self.blobs.save_output = held_save  # type: ignore[method-assign]
        self.lifecycle.complete = recorded_complete  # type: ignore[method-assign]

    def queue(self, count: int) -> list[Job]:
        jobs = []
        for n in range(count):
            job_id = new_job_id()
            self.blobs.save_input(job_id, 1, noise_image(32, 32, n))
            jobs.append(self.store.create_job(job_id, EditRequest(prompt=f"job {n}", num_inference_steps=2, seed=n), 1))
            self.saving[job_id], self.release[job_id] = threading.Event(), threading.Event()
        return jobs

    def run(self) -> threading.Thread:
        thread = threading.Thread(target=self.worker.run_until_idle, daemon=True)
        thread.start()
        return thread


def test_two_results_are_saved_at_once_and_recorded_in_the_order_the_model_finished_them(tmp_path: Path) -> None:
    pipeline = Pipeline(tmp_path, finish_threads=2)
    first, second = pipeline.queue(2)
    worker = pipeline.run()
    # The second result starts saving while the first is still being saved: two finishing threads at once.
    assert pipeline.saving[second.id].wait(WAIT), "the second result waited for the first one's save"
    assert pipeline.saving[first.id].is_set()
    # The second is saved first; its outcome still waits for the first job's.
    pipeline.release[second.id].set()
    assert pipeline.completed == []
    pipeline.release[first.id].set()
    worker.join(WAIT)
    assert not worker.is_alive()
    assert pipeline.completed == [(first.id, True), (second.id, True)]
    assert [pipeline.store.get_job(job.id).status for job in (first, second)] == [JobStatus.COMPLETE] * 2
    registry = pipeline.worker.metrics.registry
    assert registry.get_sample_value("qie_worker_finish_seconds_per_megapixel_count") == 2
    assert registry.get_sample_value("qie_worker_stage_duration_seconds_count", {"stage": "finish"}) == 2


def test_a_masked_jobs_result_is_put_back_on_image_1_on_the_finishing_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compositing on image 1's full size is CPU work: done on a finishing thread, never on the model's."""
    pipeline = Pipeline(tmp_path, finish_threads=1)
    job_id = new_job_id()
    pipeline.blobs.save_input(job_id, 1, noise_image(48, 32, 0))
    mask = Image.new("L", (48, 32), 0)
    ImageDraw.Draw(mask).rectangle((4, 4, 20, 20), fill=255)
    pipeline.blobs.save_mask(job_id, mask)
    request = EditRequest(prompt="masked", num_inference_steps=2, seed=1)
    soft = soft_mask(mask, grow_px=request.mask_grow, feather_px=request.mask_feather)
    plan = plan_region(soft, pipeline.capabilities)
    region = JobRegion(plan.approach.value, plan.crop_box, plan.working_size)
    pipeline.store.create_job(job_id, request, 1, region=region)
    pipeline.saving[job_id], pipeline.release[job_id] = threading.Event(), threading.Event()
    pipeline.release[job_id].set()
    composited_on: list[str] = []
    put_back = RegionEdit.put_back

    def recorded(self: RegionEdit, edited: Image.Image) -> Image.Image:
        composited_on.append(threading.current_thread().name)
        return put_back(self, edited)

    monkeypatch.setattr(RegionEdit, "put_back", recorded)
    worker = pipeline.run()
    worker.join(WAIT)
    assert not worker.is_alive()
    assert pipeline.store.get_job(job_id).status is JobStatus.COMPLETE
    assert composited_on and all(name.startswith("qie-finish") for name in composited_on), composited_on
