"""The worker loop on a real SQLite store with a fake engine: order, cancel, failures, recovery."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from qwen_image_editor.application.lifecycle import JobLifecycle
from qwen_image_editor.blobs.local import LocalBlobStore
from qwen_image_editor.edit_request import MAX_SEED, EditRequest
from qwen_image_editor.engine.base import EditResult, StepProgress
from qwen_image_editor.engine.factory import build_engine
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.errors import EditCancelled
from qwen_image_editor.events.local import LocalEventBus
from qwen_image_editor.jobs.events import JobProgressed
from qwen_image_editor.jobs.ids import new_job_id
from qwen_image_editor.jobs.records import Job, Progress, RequeueReason, WorkerPresence
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.services import build_services
from qwen_image_editor.store.sql import SqlJobStore
from qwen_image_editor.worker.heartbeat import WorkerTiming
from qwen_image_editor.worker.runner import Worker
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings
from tests.conftest import noise_image

# A lease no stall of a loaded machine runs out (no test here waits for this worker's lease to expire).
TIMING = WorkerTiming(lease_seconds=120, heartbeat_seconds=0.05, poll_seconds=0.01, max_attempts=2)
# Long enough for anything to happen on a loaded machine; costs nothing when it does.
PATIENCE = 45.0


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


def _until_the_lease_has_expired(setup: Setup, job: Job) -> None:
    """A dead worker's lease runs out by the clock: wait until the clock the store compares it with is past it."""
    expires = setup.store.get_job(job.id).lease_expires_at
    assert expires is not None
    while datetime.now(UTC) <= expires:
        time.sleep(0.01)


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path, FakeEngine(step_seconds=0.001, output_pixels=SMALL_OUTPUT_PIXELS))


def test_jobs_run_in_the_order_they_were_queued(setup: Setup) -> None:
    jobs = [setup.queue(prompt=f"job {n}") for n in range(4)]
    assert setup.worker.run_until_idle() == 4
    finished = [setup.store.get_job(job.id) for job in jobs]
    assert all(job.status is JobStatus.COMPLETE for job in finished)
    started = [job.started_at for job in finished]
    assert started == sorted(started)  # type: ignore[type-var]
    assert all(setup.blobs.open_file(job.id, "output_1.png").size > 0 for job in finished)


def test_a_cancelled_queued_job_never_runs(setup: Setup) -> None:
    doomed, kept = setup.queue(), setup.queue()
    setup.store.request_cancel(doomed.id)
    assert setup.worker.run_until_idle() == 1
    assert setup.status(doomed) is JobStatus.CANCELLED
    assert setup.status(kept) is JobStatus.COMPLETE
    assert setup.engine.edits_run == 1


def test_a_running_job_stops_at_its_next_step_and_the_worker_goes_on(setup: Setup) -> None:
    running, after = setup.queue(steps=150), setup.queue()
    seen: list[int] = []
    original = setup.worker._on_step

    def on_step(job: Job, step: StepProgress) -> None:
        if job.id == running.id:
            seen.append(step.step)
            if step.step == 3:
                setup.store.request_cancel(job.id)
        original(job, step)

    setup.worker._on_step = on_step  # type: ignore[method-assign]
    setup.worker.run_until_idle()
    assert setup.status(running) is JobStatus.CANCELLED
    assert max(seen) <= 5  # stopped within a step or two of the request (counted in steps, not seconds)
    assert setup.status(after) is JobStatus.COMPLETE


def test_a_failure_ends_that_job_with_a_reason_and_the_next_one_succeeds(setup: Setup) -> None:
    broken, fine = setup.queue(prompt="raise: the GPU caught fire"), setup.queue()
    setup.worker.run_until_idle()
    failed = setup.store.get_job(broken.id)
    assert failed.status is JobStatus.ERROR
    assert "the GPU caught fire" in (failed.error or "")
    assert setup.status(fine) is JobStatus.COMPLETE


def test_a_model_that_cannot_load_fails_jobs_readably(tmp_path: Path) -> None:
    setup = Setup(tmp_path, FakeEngine(fail_load=True, output_pixels=SMALL_OUTPUT_PIXELS))
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
    _until_the_lease_has_expired(setup, job)
    setup.worker.run_until_idle()
    recovered = setup.store.get_job(job.id)
    assert recovered.status is JobStatus.COMPLETE
    assert recovered.attempts == 2


def test_a_job_that_kills_its_worker_every_time_ends_as_error(setup: Setup) -> None:
    job = setup.queue()
    for _ in range(TIMING.max_attempts):
        assert setup.store.claim_next_job("dead-worker", lease_seconds=0.01) is not None
        _until_the_lease_has_expired(setup, job)
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
    deadline = time.monotonic() + PATIENCE
    while setup.status(job) is not JobStatus.COMPLETE and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(PATIENCE)
    assert not thread.is_alive()
    assert setup.status(job) is JobStatus.COMPLETE


def test_shutdown_hands_the_running_job_back_to_the_queue(setup: Setup) -> None:
    gate = setup.engine.hold(before_step=2)  # running: its first step is done, the second waits
    job = setup.queue(steps=3)
    stop = threading.Event()
    thread = threading.Thread(target=setup.worker.run_forever, args=(stop,))
    thread.start()
    try:
        gate.wait_held()
        assert setup.status(job) is JobStatus.PROCESSING
        setup.worker.shutting_down.set()
        thread.join(PATIENCE)
        assert not thread.is_alive()
    finally:
        gate.open()
        stop.set()
    released = setup.store.get_job(job.id)
    assert released.status is JobStatus.QUEUED and released.attempts == 0
    assert setup.engine.edits_run == 0  # it stopped at the gate: the edit never ran to its end


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


# -- restart recovery -------------------------------------------------------------------------


def test_a_restarted_worker_requeues_its_previous_runs_job_at_once_and_runs_it_first(setup: Setup) -> None:
    interrupted = setup.queue(prompt="interrupted")
    setup.store.claim_next_job("svc-1/old-run", lease_seconds=600)  # then that run died
    elsewhere = setup.queue(prompt="another worker's")
    setup.store.claim_next_job("svc-2/live", lease_seconds=600)  # a live worker's job: not ours to touch
    behind = setup.queue(prompt="queued behind it")
    setup.worker.take_name("svc-1", "new-run")
    assert setup.worker.run_until_idle() == 2
    rerun, after = setup.store.get_job(interrupted.id), setup.store.get_job(behind.id)
    assert rerun.status is after.status is JobStatus.COMPLETE
    assert rerun.started_at < after.started_at  # type: ignore[operator]  # it kept its place: first
    assert rerun.attempts == 2 and rerun.requeue_reason is RequeueReason.RESTART
    assert after.requeue_reason is None
    assert setup.status(elsewhere) is JobStatus.PROCESSING


def test_names_are_matched_exactly_not_as_patterns(setup: Setup) -> None:
    job = setup.queue()
    setup.store.claim_next_job("aXb/old-run", lease_seconds=600)
    assert setup.store.recover_previous_run("a_b", "a_b/new-run", max_attempts=2) == []
    assert setup.status(job) is JobStatus.PROCESSING


def test_a_job_that_crashes_its_service_every_time_ends_as_error(setup: Setup) -> None:
    job = setup.queue()
    for run in range(1, TIMING.max_attempts + 1):
        assert setup.store.claim_next_job(f"svc-1/run-{run}", lease_seconds=600) is not None
        setup.store.recover_previous_run("svc-1", f"svc-1/run-{run + 1}", TIMING.max_attempts)
    final = setup.store.get_job(job.id)
    assert final.status is JobStatus.ERROR and "not retried" in (final.error or "")
    assert final.attempts == TIMING.max_attempts


def test_an_idle_worker_starts_a_job_submitted_here_without_waiting_for_its_poll(tmp_path: Path) -> None:
    """The worker polls only once an hour here: only the wake-up on submit can start the job in the test."""
    services = build_services(
        make_settings(tmp_path, poll_seconds=3600, lease_seconds=120),
        engine=FakeEngine(step_seconds=0.001, output_pixels=SMALL_OUTPUT_PIXELS),
    )
    looked = threading.Event()
    real_claim = services.store.claim_next_job

    def claim(worker_id: str, lease_seconds: float) -> Job | None:
        job = real_claim(worker_id, lease_seconds)
        looked.set()
        return job

    services.store.claim_next_job = claim  # type: ignore[method-assign]
    services.start_background()
    try:
        assert looked.wait(PATIENCE)  # it found nothing and went idle
        upload = io.BytesIO()
        noise_image(32, 32).save(upload, format="PNG")
        upload.seek(0)
        job = services.jobs.submit([upload], EditRequest(prompt="now", num_inference_steps=2))
        deadline = time.monotonic() + PATIENCE
        while not services.store.get_job(job.id).status.is_terminal and time.monotonic() < deadline:
            time.sleep(0.01)
        assert services.store.get_job(job.id).status is JobStatus.COMPLETE
    finally:
        services.close()


def test_variations_have_consecutive_seeds_and_each_equals_its_seed_made_alone(setup: Setup) -> None:
    steps: list[tuple[int | None, int | None, str]] = []
    original = setup.store.update_progress

    def recording(job_id: str, worker_id: str, progress: Progress) -> None:
        steps.append((progress.step, progress.total_steps, progress.message))
        original(job_id, worker_id, progress)

    setup.store.update_progress = recording  # type: ignore[method-assign]
    job_id = new_job_id()
    setup.blobs.save_input(job_id, 1, noise_image(32, 32))
    request = EditRequest(prompt="make it blue", num_inference_steps=2, seed=MAX_SEED - 1, num_images=3)
    setup.store.create_job(job_id, request, 1)
    alone = [setup.queue() for _ in range(3)]
    for single, seed in zip(alone, [MAX_SEED - 1, MAX_SEED, 0], strict=True):  # wraps to stay a valid seed
        setup.store.delete_job(single.id)
        setup.store.create_job(single.id, request.model_copy(update={"num_images": 1, "seed": seed}), 1)
    setup.worker.run_until_idle()

    done = setup.store.get_job(job_id)
    assert done.status is JobStatus.COMPLETE
    assert done.output_names == ["output_1.png", "output_2.png", "output_3.png"]
    for index, single in enumerate(alone, start=1):
        made_alone = setup.blobs.read_bytes(single.id, "output_1.png")
        assert setup.blobs.read_bytes(job_id, f"output_{index}.png") == made_alone
    variation_steps = [(step, total) for step, total, _ in steps if total == 6]
    assert variation_steps == [(n, 6) for n in range(1, 7)]  # counted across the three images
    assert "Image 2 of 3: step 1 of 2" in [message for _, _, message in steps]


def test_the_next_jobs_steps_go_out_while_the_previous_result_is_still_being_saved(setup: Setup) -> None:
    """Saving a ~1 MP result takes a second or more: the next job's watchers must not wait for it."""
    first, second = setup.queue(steps=3), setup.queue(steps=3)
    seen_while_saving = threading.Event()
    original_save, original_publish = setup.blobs.save_output, setup.events.publish

    def slow_save(job_id: str, *args: Any, **kwargs: Any) -> str:
        if job_id == first.id:  # the first result is stored only once the second job's steps have gone out
            assert seen_while_saving.wait(PATIENCE), "the next job's progress waited behind this save"
        return original_save(job_id, *args, **kwargs)

    def publish(event: Any) -> None:
        if isinstance(event, JobProgressed) and event.job_id == second.id and event.progress.step == 3:
            seen_while_saving.set()
        original_publish(event)

    setup.blobs.save_output = slow_save  # type: ignore[method-assign]
    setup.events.publish = publish  # type: ignore[method-assign]
    assert setup.worker.run_until_idle() == 2
    assert seen_while_saving.is_set()
    assert setup.status(first) is JobStatus.COMPLETE and setup.status(second) is JobStatus.COMPLETE


def test_a_worker_tells_the_store_it_lives_and_what_its_model_is_doing(setup: Setup) -> None:
    def presence() -> WorkerPresence:
        (only,) = setup.store.workers_seen_since(datetime.now(UTC) - timedelta(minutes=1))
        return only

    setup.worker._alive("worker-a")  # an idle heartbeat, before any job
    assert presence().worker_id == "worker-a" and presence().model == "fake"
    assert presence().model_state == "not_loaded" and presence().device == setup.engine.device
    setup.queue()
    assert setup.worker.run_until_idle() == 1
    setup.worker._announced_at = -float("inf")  # the next heartbeat interval has passed
    setup.worker._alive("worker-a")
    assert presence().model_state == "ready"


def test_a_fake_model_with_a_hold_file_holds_each_edit_before_its_first_step_until_the_file_is_gone(
    tmp_path: Path,
) -> None:
    """QIE_FAKE_HOLD_FILE: how a test keeps a job running in a `qie serve` or `qie worker` process."""
    hold = tmp_path / "hold"
    hold.touch()
    engine = build_engine(make_settings(tmp_path, fake_hold_file=hold, fake_step_seconds=0))
    assert isinstance(engine, FakeEngine) and engine.gate is not None
    request = EditRequest(prompt="make it blue", num_inference_steps=2, seed=1)
    steps: list[StepProgress] = []
    cancelled = threading.Event()
    outcomes: list[object] = []

    def edit(should_cancel: Any = None) -> None:
        try:
            outcomes.append(engine.edit([noise_image(32, 32)], request, steps.append, should_cancel))
        except EditCancelled as exc:
            outcomes.append(exc)

    held = threading.Thread(target=edit, args=(cancelled.is_set,))
    held.start()
    engine.gate.wait_held()
    cancelled.set()  # a held edit still stops when it is cancelled
    held.join(PATIENCE)
    assert not held.is_alive() and isinstance(outcomes.pop(), EditCancelled) and steps == []

    released = threading.Thread(target=edit)
    released.start()
    engine.gate.wait_held()
    assert released.is_alive() and steps == []  # it cannot pass the gate while the file is there
    hold.unlink()
    released.join(PATIENCE)
    assert not released.is_alive() and [step.step for step in steps] == [1, 2]
    assert isinstance(outcomes.pop(), EditResult)
