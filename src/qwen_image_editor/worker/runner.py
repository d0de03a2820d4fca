"""The worker: one code path for the in-process thread and `qie worker`, in three stages so that the model
never waits on the CPU:

    prepare (claim, read and fit the inputs)  ->  model (one edit at a time)  ->  finish (encode, save, complete)

The model stage runs in the calling thread. The next job is claimed, and its inputs decoded and resized to the
model's sizes, on a prepare thread while the current edit runs its last steps, and no earlier, so a worker
never sits on a job that another worker could start sooner. Results are encoded and saved on a small pool (two
at once on two cores) while the model runs the next job; one recorder thread then records outcomes in the
order the model finished the jobs, each only once its files are in place. Progress has a thread of its own. A
job's lease is renewed from its claim until its outcome is recorded, whatever stage it is in.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from PIL import Image

from qwen_image_editor.application.lifecycle import JobLifecycle
from qwen_image_editor.blobs.base import BlobStore
from qwen_image_editor.edit_request import embedded_settings
from qwen_image_editor.engine.base import EditEngine, EditResult, ModelState, StepProgress
from qwen_image_editor.engine.checkpoints import Checkpoint, Checkpointing
from qwen_image_editor.errors import (
    EditCancelled,
    InvalidRequest,
    InvalidTransition,
    JobNotFound,
    ModelUnavailable,
    OutOfMemory,
    StorageFull,
    StorageUnavailable,
)
from qwen_image_editor.imaging import flattened_by
from qwen_image_editor.jobs.events import Preview
from qwen_image_editor.jobs.records import Job, JobRegion, Progress, ProgressStage, WorkerPresence
from qwen_image_editor.regions import RegionEdit, soft_mask
from qwen_image_editor.store.base import JobStore
from qwen_image_editor.worker.checkpoints import CheckpointWriter, SavedRun, pack, read_saved_run

log = logging.getLogger(__name__)

# Share of the progress bar before denoising starts and after it ends (decode and save).
_DENOISE_START, _DENOISE_END = 5.0, 95.0
# The next job is prepared once the current edit is this close to its end (or on its last step).
PREPARE_AHEAD_SECONDS = 1.0


class _NotSaved(enum.Enum):
    """Why a finished edit's results were not saved."""

    LEASE_LOST = "lease_lost"  # another worker has the job now
    CANCELLED = "cancelled"  # cancel was asked for during the last step


@dataclass(frozen=True)
class _Saved:
    """A job's results in place: their names, and whether JPEG flattened a result's transparency on white."""

    names: list[str]
    flattened: bool = False
    region_approach: str | None = None  # how the engine held the model to the job's region (EditResult's)


@dataclass(frozen=True)
class WorkerTiming:
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    poll_seconds: float = 1.0  # an idle worker looks for work this often even when nothing woke it
    max_attempts: int = 2


class _Heartbeat:
    """Renews the job's lease in the background; notices when the lease was lost to another worker."""

    def __init__(
        self, store: JobStore, job_id: str, worker_id: str, timing: WorkerTiming, on_beat: Callable[[], None]
    ) -> None:
        self._store, self._job_id, self._worker_id, self._timing = store, job_id, worker_id, timing
        self._on_beat = on_beat
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id[:8]}", daemon=True)

    def start(self) -> _Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._timing.heartbeat_seconds):
            try:
                if not self._store.renew_lease(self._job_id, self._worker_id, self._timing.lease_seconds):
                    self.lost.set()
                    return
                self._on_beat()
            except Exception:  # a database hiccup; the lease has slack for the next beat
                log.warning("lease renewal for job %s failed", self._job_id, exc_info=True)


@dataclass
class _Prepared:
    """A claimed job, its lease kept alive, with its inputs read and fitted to the model (or the error that
    stopped that), and the result's exact size when it has one; a masked job's region and its mask as the model
    gets it."""

    job: Job
    heartbeat: _Heartbeat
    images: list[Image.Image] = field(default_factory=list)
    output_size: tuple[int, int] | None = None
    error: Exception | None = None
    region: RegionEdit | None = None
    region_mask: Image.Image | None = None
    resume: SavedRun | None = None  # where a run cut short left it (a requeued job's checkpoint)


class _Recorder:
    """One thread that does, in the order given, what the model thread hands it: job outcomes (or, as the
    worker's reporter, progress updates)."""

    def __init__(self, name: str) -> None:
        self._tasks: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, task: Callable[[], None]) -> None:
        self._tasks.put(task)

    def flush(self) -> None:
        """Wait until everything handed over so far is done."""
        done = threading.Event()
        self._tasks.put(done.set)
        done.wait()

    def close(self) -> None:
        """Do everything handed over so far, then stop."""
        self._tasks.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (task := self._tasks.get()) is not None:
            try:
                task()
            except StorageFull:  # no traceback for each step while the disk stays full
                log.warning("worker: a job's progress or outcome is not recorded: the disk is full")
            except Exception:  # one record that failed must not stop the others
                log.exception("worker: recording a job's progress or outcome failed")


class _Prefetcher:
    """Prepares the next job on its own thread when asked; the model thread takes it when it is free."""

    def __init__(self, prepare: Callable[[], _Prepared | None]) -> None:
        self._prepare = prepare
        self._wanted, self._ready = threading.Event(), threading.Event()
        self._requested = False  # read and written by the model thread only
        self._closing = False
        self._slot: _Prepared | None = None
        self._thread = threading.Thread(target=self._run, name="qie-prepare", daemon=True)
        self._thread.start()

    def request(self) -> None:
        if not self._requested:
            self._requested = True
            self._ready.clear()
            self._wanted.set()

    def take(self) -> _Prepared | None:
        """The prepared job (waiting for a preparation under way); None if none was asked for or found."""
        if not self._requested:
            return None
        self._ready.wait()
        self._requested = False
        prepared, self._slot = self._slot, None
        return prepared

    def close(self) -> _Prepared | None:
        """Stop; returns a job that was prepared but never taken, for the caller to hand back."""
        leftover = self.take()
        self._closing = True
        self._wanted.set()
        self._thread.join()
        return leftover

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._closing:
                return
            try:
                self._slot = self._prepare()
            except Exception:  # the store is unreachable or similar: the model thread will try again itself
                log.exception("worker: preparing the next job failed")
                self._slot = None
            finally:
                self._ready.set()


class _Stages:
    """The prepare and finish stages around the model thread, for one run of the worker's loop."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.recorder = _Recorder("qie-recorder")
        # Encoding a result is CPU work that releases the GIL (zlib, libwebp), so results encode side by side.
        self.savers = ThreadPoolExecutor(worker.finish_threads, thread_name_prefix="qie-finish")
        # At most this many results wait or are being saved: their pixels are held in memory until then.
        self._room = threading.Semaphore(worker.finish_threads)
        # Progress has a thread of its own: the next job's first steps reach watchers at once, not after the
        # previous result has been encoded and stored. A job's outcome waits for its progress (`_after`).
        self.reporter = _Recorder("qie-reporter")
        # Checkpoints are stored on a thread of their own: the model never waits on the disk or the network.
        self.checkpoints = CheckpointWriter(worker.blobs)
        self.prefetcher = _Prefetcher(worker._claim_and_prepare)

    def next_job(self) -> _Prepared | None:
        return self.prefetcher.take() or self.worker._claim_and_prepare()

    def report(self, job: Job, progress: Progress, preview: Preview | None = None) -> None:
        lifecycle, worker_id = self.worker.lifecycle, self.worker.worker_id
        self.reporter.submit(lambda: lifecycle.progress(job.id, worker_id, progress, preview))

    def conclude(self, heartbeat: _Heartbeat, outcome: Callable[[], None]) -> None:
        """Record a job's outcome after its progress so far, then let its lease go."""
        self.recorder.submit(_then_stop(self._after_progress(outcome), heartbeat))

    def finish(self, job: Job, heartbeat: _Heartbeat, results: list[EditResult]) -> None:
        """Save the results on the pool at once; record the outcome in order once they are in place. Waits
        while the pool's every thread is still busy with earlier results."""
        self._room.acquire()
        saved = self.savers.submit(self.worker._save, job, heartbeat, results)
        saved.add_done_callback(lambda _: self._room.release())
        self.conclude(heartbeat, functools.partial(self.worker._record_saved, job, heartbeat, saved))

    def _after_progress(self, outcome: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            self.reporter.flush()  # the job's progress, handed over before its outcome, is recorded first
            outcome()

        return run

    def close(self) -> None:
        leftover = self.prefetcher.close()
        if leftover is not None:  # claimed ahead but never run: back to the queue, its place kept
            self.conclude(leftover.heartbeat, functools.partial(self.worker._hand_back, leftover.job))
        self.recorder.close()  # first: its outcomes wait for the savers and the reporter
        self.savers.shutdown()
        self.reporter.close()
        self.checkpoints.close()  # last: the recorder removes the checkpoints of the jobs that ended


def _then_stop(task: Callable[[], None], heartbeat: _Heartbeat) -> Callable[[], None]:
    def run() -> None:
        try:
            task()
        finally:
            heartbeat.stop()

    return run


class Worker:
    def __init__(
        self,
        store: JobStore,
        blobs: BlobStore,
        engine: EditEngine,
        lifecycle: JobLifecycle,
        worker_id: str,
        timing: WorkerTiming = WorkerTiming(),
        finish_threads: int = 2,
        checkpoint_every: int = 0,
    ) -> None:
        self.store, self.blobs, self.engine, self.lifecycle = store, blobs, engine, lifecycle
        self.finish_threads = finish_threads
        # QIE_CHECKPOINT_EVERY_STEPS: a running job's state is saved after every this many steps (0: never).
        self.checkpoint_every = checkpoint_every
        self.metrics = lifecycle.metrics  # one registry per process: the lifecycle's
        self.worker_id = worker_id
        # Stable across restarts once `take_name` was called; what lets a restart recover its own jobs.
        self.name: str | None = None
        self.timing = timing
        # Set on shutdown: the running job stops at its next step and goes back to the queue.
        self.shutting_down = threading.Event()
        self._wake = threading.Event()
        self._stages: _Stages | None = None
        self._last_step: tuple[str, int, float] | None = None  # job id, step, when: for step durations
        self._resumed: tuple[str, int] | None = None  # job id, the step its run continued from (model thread)
        self._announced_at = -float("inf")  # monotonic time of the last `_announce`

    def take_name(self, name: str, run: str) -> None:
        """Run as `<name>/<run>`: `name` stays the same across restarts, `run` is new each time."""
        self.name, self.worker_id = name, f"{name}/{run}"

    def wake(self) -> None:
        """A job was queued: an idle worker looks now instead of at its next poll. Any thread."""
        self._wake.set()

    def request_shutdown(self) -> None:
        """Stop soon: the running job stops at its next step and goes back to the queue."""
        self.shutting_down.set()
        self._wake.set()

    # -- the loop -------------------------------------------------------------------------------
    def recover_previous_run(self) -> list[Job]:
        """Requeue, at once and in their order, the jobs this worker's previous run held when it died."""
        if self.name is None:
            return []
        return self.lifecycle.recover_previous_run(self.name, self.worker_id, self.timing.max_attempts)

    def run_until_idle(self) -> int:
        """Burst mode: run what is queued, then return how many jobs ran (once their outcomes are recorded)."""
        self.recover_previous_run()
        count = 0
        with self._running() as stages:
            while not self.shutting_down.is_set() and (prepared := self._poll(stages)) is not None:
                self._run_model(prepared, stages)
                count += 1
        return count

    def run_forever(self, stop: threading.Event) -> None:
        try:
            self.recover_previous_run()
        except Exception:  # the store is unreachable: the leases of those jobs expire instead
            log.exception("worker %s: recovering its previous run's jobs failed", self.worker_id)
        with self._running() as stages:
            while not stop.is_set() and not self.shutting_down.is_set():
                self._wake.clear()  # before looking, so a job queued meanwhile wakes the wait below
                try:
                    prepared = self._poll(stages)
                except Exception:  # the store is unreachable or similar: keep the worker alive and retry
                    log.exception("worker %s: polling failed", self.worker_id)
                    prepared = None
                if prepared is not None:
                    self._run_model(prepared, stages)
                    continue
                self._wake.wait(self.timing.poll_seconds)

    def _poll(self, stages: _Stages) -> _Prepared | None:
        self._alive(self.worker_id)
        return stages.next_job()

    def _alive(self, worker_id: str) -> None:
        """A heartbeat: idle between polls, busy with every lease renewal."""
        self.metrics.heartbeat(worker_id)
        self._announce()

    def _announce(self) -> None:
        """Tell the store (so the API nodes) that this worker lives and what its model is doing; at most once
        a heartbeat interval, so that an idle worker polling often writes little."""
        now = time.monotonic()
        if now - self._announced_at < self.timing.heartbeat_seconds:
            return
        self._announced_at = now
        engine = self.engine
        presence = WorkerPresence(
            worker_id=self.worker_id,
            model=engine.model_id,
            model_state=engine.state.value,
            device=engine.device,
            seen_at=datetime.now(UTC),
            model_error=engine.load_error,
        )
        try:
            self.store.record_worker(presence)
        except Exception:  # the store is unreachable: the next heartbeat tries again
            log.warning("worker %s: recording that it lives failed", self.worker_id, exc_info=True)

    @contextlib.contextmanager
    def _running(self) -> Iterator[_Stages]:
        stages = self._stages = _Stages(self)
        try:
            yield stages
        finally:
            stages.close()
            self._stages = None
            self._forget()

    def _forget(self) -> None:
        """A clean stop: this run's row goes from the workers table (so no API node counts it as live)."""
        self._announced_at = -float("inf")  # a later run (burst mode) says it lives again at once
        try:
            self.store.forget_worker(self.worker_id)
        except Exception:  # the store is unreachable: the row is pruned a day after its last heartbeat
            log.warning("worker %s: removing its row from the workers table failed", self.worker_id, exc_info=True)

    # -- prepare --------------------------------------------------------------------------------
    def _claim_and_prepare(self) -> _Prepared | None:
        """Requeue dead workers' jobs, then claim the oldest queued job and read its inputs."""
        self.lifecycle.recover_expired_leases(self.timing.max_attempts)
        started = time.perf_counter()
        job = self.lifecycle.claim_next(self.worker_id, self.timing.lease_seconds)
        if job is None:
            return None
        worker_id = self.worker_id
        beat = functools.partial(self._alive, worker_id)
        heartbeat = _Heartbeat(self.store, job.id, worker_id, self.timing, beat).start()
        try:
            preparing = _progress(ProgressStage.PREPARING, "Reading the inputs and the instruction", 2)
            self.lifecycle.progress(job.id, self.worker_id, preparing)
            images = self.blobs.load_inputs(job.id, job.input_count)
            # A job back in the queue after it had started may have left a checkpoint.
            resume = None if job.requeue_reason is None else read_saved_run(self.blobs, job, self.engine.model_id)
            if job.region is not None:
                return replace(self._prepare_region(job, heartbeat, images), resume=resume)
            # Taken before the inputs are fitted: fitting changes the last image's size.
            exact = (exact_output_size(job) or images[-1].size) if job.request.keep_input_size else None
            output_size = job.request.output_size or exact
            return _Prepared(job, heartbeat, self.engine.fit_inputs(images), output_size, resume=resume)
        except Exception as exc:  # recorded as the job's failure by the model stage, in order
            return _Prepared(job, heartbeat, error=exc)
        finally:
            self.metrics.stage_duration.labels("prepare").observe(time.perf_counter() - started)

    def _prepare_region(self, job: Job, heartbeat: _Heartbeat, images: list[Image.Image]) -> _Prepared:
        """A masked job: the model gets image 1 (cropped when its plan says so) and the mask at that size, the
        other references as they are; the engine fits them. Its result has image 1's size, whatever the request."""
        assert job.region is not None
        mask = self.blobs.load_mask(job.id)
        soft = soft_mask(mask, grow_px=job.request.mask_grow, feather_px=job.request.mask_feather)
        region = RegionEdit(images[0], soft, job.region.crop_box)
        first, region_mask = region.for_the_model()
        return _Prepared(job, heartbeat, [first, *images[1:]], first.size, region=region, region_mask=region_mask)

    # -- model ----------------------------------------------------------------------------------
    def _run_model(self, prepared: _Prepared, stages: _Stages) -> None:
        """Run the edit of a prepared job, then hand its results to the finishing pool (or its outcome to the
        recorder)."""
        job, heartbeat = prepared.job, prepared.heartbeat

        def should_stop() -> bool:
            return heartbeat.lost.is_set() or self.shutting_down.is_set() or self.store.is_cancel_requested(job.id)

        started = time.perf_counter()
        try:
            if prepared.error is not None:
                raise prepared.error
            if self.engine.state is not ModelState.READY:
                stages.report(job, _progress(ProgressStage.LOADING_MODEL, f"Loading {self.engine.model_id}", 0))
                self.engine.load()
            seeds = job.request.image_seeds()
            results = [  # variations one after another: each is exactly what its seed alone would give
                self.engine.edit(
                    prepared.images,
                    job.request.with_seed(seed),
                    on_step=functools.partial(_across_images, functools.partial(self._on_step, job), index, len(seeds)),
                    should_cancel=should_stop,
                    output_size=prepared.output_size,
                    region=prepared.region_mask,
                    **self._checkpoint_arguments(job, index, seed, prepared.resume, stages),
                )
                for index, seed in enumerate(seeds)
            ]
            if prepared.region is not None:
                results = [replace(result, image=prepared.region.put_back(result.image)) for result in results]
        except EditCancelled:
            stages.conclude(heartbeat, functools.partial(self._stopped, job, heartbeat))
        except InvalidTransition:
            log.warning("job %s changed hands while running; leaving it to its new owner", job.id, exc_info=True)
            stages.conclude(heartbeat, lambda: None)
        except Exception as exc:  # one job's failure must never stop the worker
            stages.conclude(heartbeat, functools.partial(self._fail, job, describe_failure(exc), exc))
        else:
            message = "Saving the result" + ("s" if len(results) > 1 else "")
            resumed = self._resumed[1] if self._resumed is not None and self._resumed[0] == job.id else None
            stages.report(job, _progress(ProgressStage.SAVING, message, 98, resumed_from_step=resumed))
            stages.finish(job, heartbeat, results)
        finally:
            self.metrics.stage_duration.labels("model").observe(time.perf_counter() - started)

    def _checkpoint_arguments(
        self, job: Job, variation: int, seed: int, resume: SavedRun | None, stages: _Stages
    ) -> dict[str, Checkpointing]:
        """The edit's `checkpoints` argument: save this variation's state every few steps, and continue from the
        saved run when it is this variation's. Variations before the saved one run again from step 1 (each gives
        exactly what its seed gives) without saving, so that the saved run stays until its turn comes."""
        resume_from = resume.checkpoint if resume is not None and resume.variation == variation else None
        before_saved = resume is not None and variation < resume.variation
        if resume_from is None and (self.checkpoint_every <= 0 or before_saved):
            return {}  # an engine (or a test's stand-in) that knows nothing of checkpoints is called as ever
        model = self.engine.model_id

        def save(checkpoint: Checkpoint) -> None:
            stages.checkpoints.save(job.id, pack(SavedRun(model, variation, seed, checkpoint)))

        every = 0 if before_saved else self.checkpoint_every
        return {"checkpoints": Checkpointing(every, save, resume_from)}

    def _on_step(self, job: Job, step: StepProgress) -> None:
        """`step` counts across all of the job's images (see `_across_images`)."""
        count = job.request.num_images
        per_image = step.total // count
        image, step_in_image = divmod(step.step - 1, per_image)
        done = step_in_image + 1 == per_image
        resumed_from = self._resumed_from(job.id, step.step)
        self._observe_step(job.id, step.step, first_of_image=step_in_image == 0)
        eta = step.eta_seconds
        progress = _progress(
            ProgressStage.DECODING if done else ProgressStage.DENOISING,
            _step_message(image, count, step_in_image + 1, per_image),
            _DENOISE_START + step.step / step.total * (_DENOISE_END - _DENOISE_START),
            step=step.step,
            total_steps=step.total,
            eta_seconds=None if eta is None else round(eta, 1),
            resumed_from_step=resumed_from,
        )
        preview = None if step.preview is None else Preview(step.preview.media_type, step.preview.data)
        stages = self._stages
        assert stages is not None, "steps are reported only while the worker runs"
        stages.report(job, progress, preview)
        near_the_end = step.total - step.step <= 1 or (eta is not None and eta <= PREPARE_AHEAD_SECONDS)
        if near_the_end and not self.shutting_down.is_set():
            stages.prefetcher.request()

    def _resumed_from(self, job_id: str, step: int) -> int | None:
        """The step this run of the job continued from, when it continued from a checkpoint: its steps came on
        from there, not from the step after the last one this run reported (none: 0)."""
        last = self._last_step
        previous = last[1] if last is not None and last[0] == job_id else 0
        if step == 1:
            self._resumed = None
        elif step != previous + 1:
            self._resumed = (job_id, step - 1)
        resumed = self._resumed
        return resumed[1] if resumed is not None and resumed[0] == job_id else None

    def _observe_step(self, job_id: str, step: int, *, first_of_image: bool) -> None:
        """A step's duration is the time since the previous one (the first of an image also encodes)."""
        now = time.perf_counter()
        last, self._last_step = self._last_step, (job_id, step, now)
        if last is not None and not first_of_image and last[:2] == (job_id, step - 1):
            self.metrics.step_duration.observe(now - last[2])

    # -- finish (results saved on the pool, outcomes recorded in order) ---------------------------
    def _save(self, job: Job, heartbeat: _Heartbeat, results: list[EditResult]) -> _Saved | _NotSaved:
        """Encode and store the results (on a finishing thread); their names, or why nothing was saved."""
        if heartbeat.lost.is_set():
            return _NotSaved.LEASE_LOST
        if self.store.is_cancel_requested(job.id):  # cancelled during its last step: nobody wants it
            return _NotSaved.CANCELLED
        started = time.perf_counter()
        names = [
            self.blobs.save_output(
                job.id,
                result.image,
                job.request.output_format,
                index,
                embedded_settings(
                    job.request, seed=result.seed, model=self.engine.model_id, masked=job.region is not None
                ),
            )
            for index, result in enumerate(results, start=1)
        ]
        seconds = time.perf_counter() - started
        self.metrics.stage_duration.labels("finish").observe(seconds)
        megapixels = sum(result.image.width * result.image.height for result in results) / 1e6
        self.metrics.finish_per_megapixel.observe(seconds / megapixels)
        # exactly what encode_image did: JPEG composited a result with transparency (2.1 draws alpha) on white
        flattened = any(flattened_by(result.image, job.request.output_format) for result in results)
        return _Saved(names, flattened, results[0].region_approach)

    def _record_saved(self, job: Job, heartbeat: _Heartbeat, saved: Future[_Saved | _NotSaved]) -> None:
        """Record the outcome of `_save` (on the recorder thread, in the order the model finished the jobs)."""
        try:
            outcome = saved.result()
            if outcome is _NotSaved.LEASE_LOST or heartbeat.lost.is_set():
                log.warning("job %s: lease lost to another worker; its result is dropped", job.id)
            elif outcome is _NotSaved.CANCELLED:
                self.lifecycle.cancelled(job.id, self.worker_id)
                self._forget_checkpoint(job)
            else:
                # Only now, with every file in place, does the record name them: a failure above leaves no
                # result referenced (files already written are complete, and go with the job).
                ran = _as_run(job, outcome)
                self.lifecycle.complete(
                    job.id, self.worker_id, list(outcome.names), flattened=outcome.flattened, region=ran
                )
                self._forget_checkpoint(job)
        except StorageUnavailable as exc:
            # An error, not a requeue: the S3 client has retried already, and requeueing would run the whole edit
            # again only to meet the same outage (its inputs sit in that store too), while `max_attempts` is
            # kept for workers that die. The reason says so; submitting again is cheap once the store is back.
            self._fail(job, f"could not store the result: {exc.reason}; submit the edit again once it is back", exc)
        except InvalidTransition:
            log.warning("job %s changed hands while finishing; leaving it to its new owner", job.id, exc_info=True)
        except Exception as exc:
            self._fail(job, describe_failure(exc), exc)

    def _stopped(self, job: Job, heartbeat: _Heartbeat) -> None:
        """The edit stopped at a step: lease lost, shutting down (back to the queue) or cancelled."""
        if heartbeat.lost.is_set():
            log.warning("job %s: lease lost to another worker; stopped without recording", job.id)
            return
        if self.shutting_down.is_set() and not self.store.is_cancel_requested(job.id):
            if self._stages is not None:  # its checkpoint of the step it stopped at is in place before it is requeued
                self._stages.checkpoints.flush()
            self._hand_back(job)
            return
        # JobNotFound: it was deleted while it ran, and its end is recorded and it is gone already
        with contextlib.suppress(InvalidTransition, JobNotFound):
            self.lifecycle.cancelled(job.id, self.worker_id)
        self._forget_checkpoint(job)

    def _hand_back(self, job: Job) -> None:
        with contextlib.suppress(InvalidTransition, JobNotFound):  # it changed hands meanwhile (or was deleted)
            self.lifecycle.release(job.id, self.worker_id)

    def _fail(self, job: Job, reason: str, exc: Exception) -> None:
        # The reason is for people and may quote the input; the traceback is for us, unless we refused it.
        log.error("job %s failed: %s", job.id, reason, exc_info=not isinstance(exc, InvalidRequest | StorageFull))
        with contextlib.suppress(InvalidTransition, JobNotFound):  # it changed hands meanwhile (or was deleted)
            self._record_failure(job, reason)
        self._forget_checkpoint(job)

    def _forget_checkpoint(self, job: Job) -> None:
        """The job ended (or is no longer this worker's to end): its checkpoint goes, after any still being stored.
        Not for a job handed back to the queue: its next run continues from it."""
        stages = self._stages
        if stages is not None:
            stages.checkpoints.forget(job.id)
            return
        try:
            self.blobs.delete_checkpoint(job.id)
        except Exception:  # it goes with the job's other files in the end
            log.warning("job %s: removing its checkpoint failed", job.id, exc_info=True)

    def _record_failure(self, job: Job, reason: str) -> None:
        """Record the failure; while the database's disk is full, try again until it has room (the job keeps
        its lease meanwhile, so it ends as `error` with its reason, not requeued to meet the same full disk),
        or until the worker stops (then its lease expires and it is requeued)."""
        warned = False
        while True:
            try:
                self.lifecycle.fail(job.id, self.worker_id, reason)
                return
            except StorageFull:
                if not warned:
                    log.warning("job %s: its failure is recorded once the disk has room again", job.id)
                    warned = True
                if self.shutting_down.wait(max(self.timing.poll_seconds, 0.1)):
                    return


def _as_run(job: Job, saved: _Saved) -> JobRegion | None:
    """The job's region with the approach the engine reports, when it reports one other than the planned one."""
    if job.region is None or saved.region_approach in (None, job.region.approach):
        return None
    return replace(job.region, approach=saved.region_approach)


def _across_images(on_step: Callable[[StepProgress], None], index: int, count: int, step: StepProgress) -> None:
    """Count a variation's steps across all of the job's images: image 2 of 4 at step 3 of 8 is step 11 of 32
    (and the time left, from the measured step rate, covers the images still to come)."""
    on_step(replace(step, step=index * step.total + step.step, total=count * step.total))


def _step_message(image: int, count: int, step: int, per_image: int) -> str:
    if step == per_image:
        return f"Decoding image {image + 1} of {count}" if count > 1 else "Decoding the image"
    return f"Image {image + 1} of {count}: step {step} of {per_image}" if count > 1 else f"Step {step} of {per_image}"


def _progress(
    stage: ProgressStage,
    message: str,
    percent: float,
    *,
    step: int | None = None,
    total_steps: int | None = None,
    eta_seconds: float | None = None,
    resumed_from_step: int | None = None,
) -> Progress:
    return Progress(
        stage=stage,
        message=message,
        progress=round(percent, 1),
        step=step,
        total_steps=total_steps,
        eta_seconds=eta_seconds,
        resumed_from_step=resumed_from_step,
        updated_at=datetime.now(UTC),
    )


def exact_output_size(job: Job) -> tuple[int, int] | None:
    """The last upload's size as sent, when its stored input is smaller (None: the stored one is exact)."""
    return job.original_sizes[-1] if job.original_sizes else None


def describe_failure(exc: Exception) -> str:
    """A reason for people, saying what to do where we can."""
    if isinstance(exc, InvalidRequest | ModelUnavailable | OutOfMemory):
        return str(exc)
    if isinstance(exc, StorageFull) or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC):
        return "the disk of the data directory is full; free space (e.g. `qie cleanup --hours 1`) and retry"
    if isinstance(exc, StorageUnavailable):
        return f"could not read the job's input files: {exc.reason}; submit the edit again once it is back"
    if isinstance(exc, FileNotFoundError):
        return f"the job's input files are missing ({exc}); submit the images again"
    return f"unexpected {type(exc).__name__}: {exc}"
