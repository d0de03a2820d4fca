"""Restarts resume (issue 21, point 7), in the worker on a real SQLite store with the fake engine: a running job's
checkpoints go through the blob store, a requeued job continues after the last one (its progress saying so), and
the checkpoint goes once the job ends."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qwen_image_editor.application.lifecycle import JobLifecycle
from qwen_image_editor.blobs.local import LocalBlobStore
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.checkpoints import Checkpoint
from qwen_image_editor.engine.fake import FakeEngine, StepGate
from qwen_image_editor.events.local import LocalEventBus
from qwen_image_editor.jobs.ids import new_job_id
from qwen_image_editor.jobs.records import Job, Progress, RequeueReason
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.store.sql import SqlJobStore
from qwen_image_editor.worker.checkpoints import SavedRun, pack, read_saved_run, unpack
from qwen_image_editor.worker.heartbeat import WorkerTiming
from qwen_image_editor.worker.runner import Worker
from tests.api.conftest import SMALL_OUTPUT_PIXELS
from tests.conftest import noise_image

TIMING = WorkerTiming(lease_seconds=120, heartbeat_seconds=0.05, poll_seconds=0.01, max_attempts=3)
PATIENCE = 45.0
STEPS = 10


def fake_engine() -> FakeEngine:
    return FakeEngine(step_seconds=0.001, output_pixels=SMALL_OUTPUT_PIXELS)


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.store = SqlJobStore(f"sqlite:///{tmp_path / 'qie.db'}")
        self.blobs = LocalBlobStore(tmp_path / "jobs")
        self.events = LocalEventBus()
        self.progress: dict[str, list[Progress]] = {}

    def worker(self, engine: FakeEngine, name: str, every: int = 2) -> Worker:
        lifecycle = JobLifecycle(self.store, self.events)
        recorded = lifecycle.progress

        def progress(job_id: str, worker_id: str, update: Progress, *args: object) -> None:
            self.progress.setdefault(worker_id, []).append(update)
            recorded(job_id, worker_id, update, *args)  # type: ignore[arg-type]

        lifecycle.progress = progress  # type: ignore[method-assign]
        return Worker(self.store, self.blobs, engine, lifecycle, name, TIMING, checkpoint_every=every)

    def queue(self, steps: int = STEPS, images: int = 1) -> Job:
        job_id = new_job_id()
        self.blobs.save_input(job_id, 1, noise_image(32, 32))
        request = EditRequest(prompt="make it blue", num_inference_steps=steps, seed=5, num_images=images)
        return self.store.create_job(job_id, request, 1)

    def steps_reported(self, worker_id: str) -> list[int]:
        return [update.step for update in self.progress.get(worker_id, []) if update.step is not None]


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {PATIENCE:g} s"
        time.sleep(0.01)


def pixels(blobs: LocalBlobStore, job: Job) -> np.ndarray:
    with Image.open(io.BytesIO(blobs.read_bytes(job.id, "output_1.png"))) as image:
        return np.asarray(image)


def saved_step(setup: Setup, job: Job) -> int | None:
    data = setup.blobs.load_checkpoint(job.id)
    return None if data is None else unpack(data).checkpoint.step


def stop_at(setup: Setup, job: Job, before_step: int, name: str, *, variation: int = 0, every: int = 2) -> None:
    """Run the job on a worker until its variation `variation` waits before `before_step` (of that variation) with
    its checkpoint of the last due step stored, then stop that worker (a restart): the job goes back to the queue."""
    engine = fake_engine()
    # earlier variations go through the gate; the one to stop waits at it
    gate = StepGate(before_step, is_open=lambda: engine.edits_run < variation)
    engine.gate = gate
    first = setup.worker(engine, name, every)
    running = threading.Thread(target=first.run_until_idle)
    running.start()
    gate.wait_held(count=variation + 1, timeout=PATIENCE)
    due = (before_step - 1) // every * every

    def stored() -> bool:
        data = setup.blobs.load_checkpoint(job.id)
        return data is not None and (unpack(data).variation, unpack(data).checkpoint.step) == (variation, due)

    eventually(stored, "the checkpoint before the gate was stored")
    first.request_shutdown()
    running.join(PATIENCE)
    assert not running.is_alive()
    requeued = setup.store.get_job(job.id)
    assert requeued.status is JobStatus.QUEUED and requeued.requeue_reason is RequeueReason.SHUTDOWN


def test_a_requeued_job_continues_after_its_last_checkpoint(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    job = setup.queue()
    stop_at(setup, job, before_step=7, name="worker-a")
    assert setup.steps_reported("worker-a") == [1, 2, 3, 4, 5, 6]

    engine = fake_engine()
    assert setup.worker(engine, "worker-b").run_until_idle() == 1
    done = setup.store.get_job(job.id)
    assert done.status is JobStatus.COMPLETE
    assert engine.resumed_from == [6]
    assert setup.steps_reported("worker-b") == [7, 8, 9, 10]  # not from 1
    resumed = [update.resumed_from_step for update in setup.progress["worker-b"] if update.step is not None]
    assert resumed == [6, 6, 6, 6]
    assert setup.progress["worker-b"][-1].resumed_from_step == 6  # saving, and so the finished job's view
    assert setup.blobs.load_checkpoint(job.id) is None  # gone with the job's end

    # The same result as a run that was never stopped.
    again = Setup(tmp_path / "again")
    uninterrupted = again.queue()
    assert again.worker(fake_engine(), "worker-c", every=0).run_until_idle() == 1
    assert np.array_equal(pixels(setup.blobs, job), pixels(again.blobs, uninterrupted))


def test_checkpoints_are_saved_every_few_steps_and_removed_when_the_job_ends(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    stored: list[int] = []
    save = setup.blobs.save_checkpoint

    def recording(job_id: str, data: bytes) -> None:
        stored.append(unpack(data).checkpoint.step)
        save(job_id, data)

    setup.blobs.save_checkpoint = recording  # type: ignore[method-assign]
    complete, cancelled = setup.queue(), setup.queue(steps=20)
    engine = fake_engine()
    gate = engine.hold(before_step=15)
    worker = setup.worker(engine, "worker-a", every=3)
    running = threading.Thread(target=worker.run_until_idle)
    running.start()
    gate.wait_held(timeout=PATIENCE)  # the second job, at step 15, with its checkpoint of step 12
    eventually(lambda: saved_step(setup, cancelled) == 12, "the second job's checkpoint was stored")
    setup.store.request_cancel(cancelled.id)
    running.join(PATIENCE)
    assert setup.store.get_job(complete.id).status is JobStatus.COMPLETE
    assert setup.store.get_job(cancelled.id).status is JobStatus.CANCELLED
    # every 3 steps, never after the last (the result is moments away); and the step the cancel stopped at (14).
    # (One not yet stored when the next comes is dropped: only the latest matters.)
    assert set(stored) <= {3, 6, 9, 12, 14} and 12 in stored
    assert setup.blobs.load_checkpoint(complete.id) is None
    assert setup.blobs.load_checkpoint(cancelled.id) is None


def test_a_job_of_several_variations_continues_the_one_that_was_running(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    job = setup.queue(steps=4, images=3)  # 12 steps in all: variation 2 runs steps 5-8
    stop_at(setup, job, before_step=4, name="worker-a", variation=1)  # variation 2 at its step 4: checkpoint 2
    # stopped by the shutdown after step 3, it saved that step too (a graceful restart loses no step)
    run = unpack(setup.blobs.load_checkpoint(job.id) or b"")
    assert (run.variation, run.checkpoint.step, run.seed) == (1, 3, job.request.image_seeds()[1])

    engine = fake_engine()
    assert setup.worker(engine, "worker-b").run_until_idle() == 1
    assert setup.store.get_job(job.id).status is JobStatus.COMPLETE
    assert engine.resumed_from == [3]
    # variation 1 again from its start (its result was never stored), variation 2 after its saved step
    assert setup.steps_reported("worker-b") == [1, 2, 3, 4, 8, 9, 10, 11, 12]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"model": "another"}, "another model drew it"),
        ({"seed": 6}, "another seed"),
        ({"variation": 3}, "no such variation"),
        ({"checkpoint": Checkpoint(4, 8, b"")}, "another step count"),
    ],
)
def test_a_checkpoint_of_another_run_is_not_continued_from(tmp_path: Path, change: dict[str, object], why: str) -> None:
    setup = Setup(tmp_path)
    job = setup.queue()
    fitting = SavedRun("fake", 0, 5, Checkpoint(4, STEPS, b"latents"))
    setup.blobs.save_checkpoint(job.id, pack(fitting))
    assert read_saved_run(setup.blobs, job, "fake") == fitting
    other = SavedRun(**{**fitting.__dict__, **change})  # type: ignore[arg-type]
    setup.blobs.save_checkpoint(job.id, pack(other))
    assert read_saved_run(setup.blobs, job, "fake") is None, why


def test_an_unreadable_checkpoint_is_ignored_and_a_job_file_only_for_the_worker(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    job = setup.queue()
    setup.blobs.save_checkpoint(job.id, b"not a zip")
    assert read_saved_run(setup.blobs, job, "fake") is None
    with pytest.raises(FileNotFoundError):  # no client may read it through the API
        setup.blobs.open_file(job.id, "checkpoint.zip")
    assert setup.blobs.delete_job_files(job.id) > 0
    assert setup.blobs.load_checkpoint(job.id) is None


def cancel_at(setup: Setup, job: Job, before_step: int) -> tuple[FakeEngine, threading.Event, threading.Thread]:
    """Run the job on a worker that stays up (`run_forever`) and cancel it while it waits before `before_step`; the
    gate is opened again once the job is cancelled, so that a rerun passes it."""
    engine = fake_engine()
    gate = engine.hold(before_step=before_step)
    stop = threading.Event()
    running = threading.Thread(target=setup.worker(engine, "worker-a", every=3).run_forever, args=(stop,))
    running.start()
    gate.wait_held(timeout=PATIENCE)
    setup.store.request_cancel(job.id)
    eventually(lambda: setup.store.get_job(job.id).status is JobStatus.CANCELLED, "the job was cancelled")
    gate.open()
    return engine, stop, running


def test_an_undone_cancel_continues_from_the_step_it_was_cancelled_at(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    job = setup.queue(steps=20)
    engine, stop, running = cancel_at(setup, job, before_step=15)
    try:
        # kept while the cancel can be undone: the step the cancel stopped at (14; every 3 steps saved 12 before)
        eventually(lambda: saved_step(setup, job) == 14, "the cancelled job's checkpoint was kept")
        setup.store.undo_cancel(job.id, within_seconds=60)
        eventually(lambda: setup.store.get_job(job.id).status is JobStatus.COMPLETE, "the undone job completed")
    finally:
        stop.set()
        running.join(PATIENCE)
    assert engine.resumed_from == [14]  # not from step 1
    assert setup.steps_reported("worker-a")[-6:] == [15, 16, 17, 18, 19, 20]
    assert setup.blobs.load_checkpoint(job.id) is None  # gone with the job's end

    again = Setup(tmp_path / "again")  # the pixels of a run that was never cancelled
    uninterrupted = again.queue(steps=20)
    assert again.worker(fake_engine(), "worker-c", every=0).run_until_idle() == 1
    assert np.array_equal(pixels(setup.blobs, job), pixels(again.blobs, uninterrupted))


def test_a_cancelled_jobs_checkpoint_goes_once_the_cancel_cannot_be_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("qwen_image_editor.worker.outcomes.UNDO_CANCEL_SECONDS", 0.0)
    monkeypatch.setattr("qwen_image_editor.worker.outcomes._UNDO_MARGIN_SECONDS", 0.2)
    setup = Setup(tmp_path)
    job = setup.queue(steps=20)
    _, stop, running = cancel_at(setup, job, before_step=15)
    try:  # the worker is still up: its writer removes it when due, not only when it closes
        eventually(lambda: setup.blobs.load_checkpoint(job.id) is None, "the checkpoint was removed")
        assert running.is_alive()
    finally:
        stop.set()
        running.join(PATIENCE)
    assert setup.store.get_job(job.id).status is JobStatus.CANCELLED
