"""The worker loop on a real SQLite store with a fake engine: order, cancel, failures, recovery."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from qwen_image_editor.application.lifecycle import JobLifecycle
from qwen_image_editor.blobs.local import LocalBlobStore
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.base import StepProgress
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.events.local import LocalEventBus
from qwen_image_editor.jobs.ids import new_job_id
from qwen_image_editor.jobs.records import Job
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.store.sql import SqlJobStore
from qwen_image_editor.worker.runner import Worker, WorkerTiming
from tests.conftest import noise_image

TIMING = WorkerTiming(lease_seconds=5, heartbeat_seconds=0.05, poll_seconds=0.01, max_attempts=2)


class Setup:
    def __init__(self, tmp_path: Path, engine: FakeEngine) -> None:
        self.store = SqlJobStore(f"sqlite:///{tmp_path / 'qie.db'}")
        self.blobs = LocalBlobStore(tmp_path / "jobs")
        self.engine = engine
        self.events = LocalEventBus()
        self.worker = Worker(self.store, self.blobs, engine, JobLifecycle(self.store, self.events), "worker-a", TIMING)

    def queue(self, prompt: str = "make it blue", steps: int = 3) -> Job:
        job_id = new_job_id()
        self.blobs.save_input(job_id, 1, noise_image(32, 32))
        request = EditRequest(prompt=prompt, num_inference_steps=steps, seed=1)
        return self.store.create_job(job_id, request, 1)

    def status(self, job: Job) -> JobStatus:
        return self.store.get_job(job.id).status


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path, FakeEngine(step_seconds=0.001))


def test_jobs_run_in_the_order_they_were_queued(setup: Setup) -> None:
    jobs = [setup.queue(prompt=f"job {n}") for n in range(4)]
    assert setup.worker.run_until_idle() == 4
    finished = [setup.store.get_job(job.id) for job in jobs]
    assert all(job.status is JobStatus.COMPLETE for job in finished)
    started = [job.started_at for job in finished]
    assert started == sorted(started)  # type: ignore[type-var]
    assert all((setup.blobs.path_of(job.id, "output_1.png")).is_file() for job in finished)


def test_a_cancelled_queued_job_never_runs(setup: Setup) -> None:
    doomed, kept = setup.queue(), setup.queue()
    setup.store.request_cancel(doomed.id)
    assert setup.worker.run_until_idle() == 1
    assert setup.status(doomed) is JobStatus.CANCELLED
    assert setup.status(kept) is JobStatus.COMPLETE
    assert setup.engine.edits_run == 1


def test_a_running_job_stops_at_its_next_step_and_the_worker_goes_on(setup: Setup) -> None:
    setup.engine.step_seconds = 0.02
    running, after = setup.queue(steps=150), setup.queue()
    seen: list[int] = []
    original = setup.worker._on_step

    def on_step(job: Job, step: StepProgress) -> None:
        seen.append(step.step)
        if step.step == 3:
            setup.store.request_cancel(job.id)
        original(job, step)

    setup.worker._on_step = on_step  # type: ignore[method-assign]
    setup.worker.run_until_idle()
    assert setup.status(running) is JobStatus.CANCELLED
    assert max(seen) <= 5  # stopped within a step or two of the request
    assert setup.status(after) is JobStatus.COMPLETE


def test_a_failure_ends_that_job_with_a_reason_and_the_next_one_succeeds(setup: Setup) -> None:
    broken, fine = setup.queue(prompt="raise: the GPU caught fire"), setup.queue()
    setup.worker.run_until_idle()
    failed = setup.store.get_job(broken.id)
    assert failed.status is JobStatus.ERROR
    assert "the GPU caught fire" in (failed.error or "")
    assert setup.status(fine) is JobStatus.COMPLETE


def test_a_model_that_cannot_load_fails_jobs_readably(tmp_path: Path) -> None:
    setup = Setup(tmp_path, FakeEngine(fail_load=True))
    job = setup.queue()
    setup.worker.run_until_idle()
    failed = setup.store.get_job(job.id)
    assert failed.status is JobStatus.ERROR and "fail loading" in (failed.error or "")


def test_missing_input_files_fail_the_job_not_the_worker(setup: Setup) -> None:
    lost, fine = setup.queue(), setup.queue()
    setup.blobs.delete_job_files(lost.id)
    setup.worker.run_until_idle()
    assert "input files are missing" in (setup.store.get_job(lost.id).error or "")
    assert setup.status(fine) is JobStatus.COMPLETE


def test_progress_is_recorded_per_step(setup: Setup) -> None:
    job = setup.queue(steps=4)
    updates: list[int | None] = []
    original = setup.store.update_progress

    def recording(job_id: str, worker_id: str, progress: object) -> None:
        updates.append(getattr(progress, "step", None))
        original(job_id, worker_id, progress)  # type: ignore[arg-type]

    setup.store.update_progress = recording  # type: ignore[method-assign]
    setup.worker.run_until_idle()
    assert [step for step in updates if step is not None] == [1, 2, 3, 4]
    assert setup.status(job) is JobStatus.COMPLETE


def test_restart_requeues_a_dead_workers_job_then_runs_it(setup: Setup) -> None:
    job = setup.queue()
    setup.store.claim_next_job("dead-worker", lease_seconds=0.01)  # a worker that then died
    time.sleep(0.05)
    setup.worker.run_until_idle()
    recovered = setup.store.get_job(job.id)
    assert recovered.status is JobStatus.COMPLETE
    assert recovered.attempts == 2


def test_a_job_that_kills_its_worker_every_time_ends_as_error(setup: Setup) -> None:
    job = setup.queue()
    for _ in range(TIMING.max_attempts):
        assert setup.store.claim_next_job("dead-worker", lease_seconds=0.01) is not None
        time.sleep(0.05)
        setup.store.recover_expired_leases(TIMING.max_attempts)
    setup.worker.run_until_idle()
    final = setup.store.get_job(job.id)
    assert final.status is JobStatus.ERROR
    assert final.attempts == TIMING.max_attempts
    assert "not retried" in (final.error or "")
    assert setup.engine.edits_run == 0


def test_run_forever_stops_when_asked(setup: Setup) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=setup.worker.run_forever, args=(stop,))
    thread.start()
    job = setup.queue()
    deadline = time.monotonic() + 5
    while setup.status(job) is not JobStatus.COMPLETE and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(2)
    assert not thread.is_alive()
    assert setup.status(job) is JobStatus.COMPLETE


def test_shutdown_hands_the_running_job_back_to_the_queue(setup: Setup) -> None:
    setup.engine.step_seconds = 0.02
    job = setup.queue(steps=150)
    stop = threading.Event()
    thread = threading.Thread(target=setup.worker.run_forever, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 5
    while setup.status(job) is not JobStatus.PROCESSING and time.monotonic() < deadline:
        time.sleep(0.01)
    setup.worker.shutting_down.set()
    thread.join(5)
    assert not thread.is_alive()
    released = setup.store.get_job(job.id)
    assert released.status is JobStatus.QUEUED and released.attempts == 0


def test_a_full_disk_fails_the_job_with_a_reason_and_the_worker_recovers(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    first, second = setup.queue(), setup.queue()
    real_save = setup.blobs.save_output

    def disk_full(*args: object, **kwargs: object) -> str:
        monkeypatch.setattr(setup.blobs, "save_output", real_save)  # space is freed after this one
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(setup.blobs, "save_output", disk_full)
    setup.worker.run_until_idle()
    failed = setup.store.get_job(first.id)
    assert failed.status is JobStatus.ERROR and "disk" in (failed.error or "") and "full" in (failed.error or "")
    assert setup.status(second) is JobStatus.COMPLETE
