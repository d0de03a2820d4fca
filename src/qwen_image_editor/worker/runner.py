"""The worker: one code path for the in-process thread and `qie worker`. Its loop runs the model stage in the
calling thread, one edit at a time, between the prepare and finish stages (`stages`) that keep the model from
waiting on the CPU. A job's lease is renewed from its claim until its outcome is recorded (`heartbeat`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from qwen_image_editor.application.lifecycle import JobLifecycle
from qwen_image_editor.blobs.base import BlobStore
from qwen_image_editor.engine.base import EditEngine, ModelState, StepProgress
from qwen_image_editor.engine.checkpoints import Checkpoint, Checkpointing
from qwen_image_editor.errors import EditCancelled, InvalidTransition
from qwen_image_editor.jobs.events import Preview
from qwen_image_editor.jobs.records import Job, ProgressStage, WorkerPresence
from qwen_image_editor.store.base import JobStore
from qwen_image_editor.worker.checkpoints import SavedRun, pack
from qwen_image_editor.worker.heartbeat import WorkerTiming
from qwen_image_editor.worker.outcomes import describe_failure
from qwen_image_editor.worker.prepare import Prepared
from qwen_image_editor.worker.progress import StepCounter, across_images, progress
from qwen_image_editor.worker.stages import Stages

log = logging.getLogger(__name__)

# The next job is prepared once the current edit is this close to its end (or on its last step).
PREPARE_AHEAD_SECONDS = 1.0


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
        # The ids of the jobs it holds (claimed, outcome not yet recorded): heartbeats add and remove them.
        self.held: set[str] = set()
        self._wake = threading.Event()
        self._stages: Stages | None = None
        self._steps = StepCounter(self.metrics.step_duration.observe)  # read and written by the model thread
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

    def _poll(self, stages: Stages) -> Prepared | None:
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
    def _running(self) -> Iterator[Stages]:
        stages = self._stages = Stages(self)
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

    # -- model ----------------------------------------------------------------------------------
    def _run_model(self, prepared: Prepared, stages: Stages) -> None:
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
                stages.progress.report(job, progress(ProgressStage.LOADING_MODEL, f"Loading {self.engine.model_id}", 0))
                self.engine.load()
            seeds = job.request.image_seeds()
            results = [  # variations one after another: each is exactly what its seed alone would give
                self.engine.edit(
                    prepared.images,
                    job.request.with_seed(seed),
                    on_step=functools.partial(across_images, functools.partial(self._on_step, job), index, len(seeds)),
                    should_cancel=should_stop,
                    output_size=prepared.output_size,
                    region=prepared.region_mask,
                    **self._checkpoint_arguments(job, index, seed, prepared.resume, stages),
                )
                for index, seed in enumerate(seeds)
            ]
        except EditCancelled:
            stages.conclude(heartbeat, functools.partial(stages.outcomes.stopped, job, heartbeat))
        except InvalidTransition:
            log.warning("job %s changed hands while running; leaving it to its new owner", job.id, exc_info=True)
            stages.conclude(heartbeat, lambda: None)
        except Exception as exc:  # one job's failure must never stop the worker
            stages.conclude(heartbeat, functools.partial(stages.outcomes.fail, job, describe_failure(exc), exc))
        else:
            message = "Saving the result" + ("s" if len(results) > 1 else "")
            resumed = self._steps.resumed(job.id)
            stages.progress.report(job, progress(ProgressStage.SAVING, message, 98, resumed_from_step=resumed))
            stages.finish(job, heartbeat, results, prepared.region)
        finally:
            self.metrics.stage_duration.labels("model").observe(time.perf_counter() - started)

    def _checkpoint_arguments(
        self, job: Job, variation: int, seed: int, resume: SavedRun | None, stages: Stages
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
        """`step` counts across all of the job's images (see `across_images`)."""
        stages = self._stages
        assert stages is not None, "steps are reported only while the worker runs"
        preview = None if step.preview is None else Preview(step.preview.media_type, step.preview.data)
        stages.progress.report(job, self._steps.progress(job, step), preview)
        eta = step.eta_seconds
        near_the_end = step.total - step.step <= 1 or (eta is not None and eta <= PREPARE_AHEAD_SECONDS)
        if near_the_end and not self.shutting_down.is_set():
            stages.prefetcher.request()
