"""`Worker.run_job`: the one code path that runs a job, used by the in-process thread and `qie worker`."""

from __future__ import annotations

import contextlib
import errno
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from qwen_image_editor.application.lifecycle import JobLifecycle
from qwen_image_editor.blobs.base import BlobStore
from qwen_image_editor.engine.base import EditEngine, ModelState, StepProgress
from qwen_image_editor.errors import EditCancelled, InvalidRequest, InvalidTransition, ModelUnavailable, OutOfMemory
from qwen_image_editor.jobs.records import Job, Progress, ProgressStage
from qwen_image_editor.store.base import JobStore

log = logging.getLogger(__name__)

# Share of the progress bar before denoising starts and after it ends (decode and save).
_DENOISE_START, _DENOISE_END = 5.0, 95.0


@dataclass(frozen=True)
class WorkerTiming:
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    poll_seconds: float = 1.0
    max_attempts: int = 2


class _Heartbeat:
    """Renews the job's lease in the background; notices when the lease was lost to another worker."""

    def __init__(self, store: JobStore, job_id: str, worker_id: str, timing: WorkerTiming) -> None:
        self._store, self._job_id, self._worker_id, self._timing = store, job_id, worker_id, timing
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id[:8]}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._timing.heartbeat_seconds):
            try:
                if not self._store.renew_lease(self._job_id, self._worker_id, self._timing.lease_seconds):
                    self.lost.set()
                    return
            except Exception:  # a database hiccup; the lease has slack for the next beat
                log.warning("lease renewal for job %s failed", self._job_id, exc_info=True)


class Worker:
    def __init__(
        self,
        store: JobStore,
        blobs: BlobStore,
        engine: EditEngine,
        lifecycle: JobLifecycle,
        worker_id: str,
        timing: WorkerTiming = WorkerTiming(),
    ) -> None:
        self.store, self.blobs, self.engine, self.lifecycle = store, blobs, engine, lifecycle
        self.worker_id = worker_id
        self.timing = timing
        # Set on shutdown: the running job stops at its next step and goes back to the queue.
        self.shutting_down = threading.Event()

    # -- the loop -------------------------------------------------------------------------------
    def run_once(self) -> bool:
        """Requeue dead workers' jobs, then claim and run one job. False when there was nothing to do."""
        self.lifecycle.recover_expired_leases(self.timing.max_attempts)
        job = self.lifecycle.claim_next(self.worker_id, self.timing.lease_seconds)
        if job is None:
            return False
        self.run_job(job)
        return True

    def run_until_idle(self) -> int:
        """Burst mode: run what is queued, then return how many jobs ran."""
        count = 0
        while self.run_once():
            count += 1
        return count

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set() and not self.shutting_down.is_set():
            try:
                if self.run_once():
                    continue
            except Exception:  # the store is unreachable or similar: keep the worker alive and retry
                log.exception("worker %s: polling failed", self.worker_id)
            stop.wait(self.timing.poll_seconds)

    # -- one job --------------------------------------------------------------------------------
    def run_job(self, job: Job) -> None:
        """Run a job this worker has claimed, to its end (or back to the queue on shutdown)."""
        with _Heartbeat(self.store, job.id, self.worker_id, self.timing) as heartbeat:
            self._run(job, heartbeat)

    def _run(self, job: Job, heartbeat: _Heartbeat) -> None:
        def should_stop() -> bool:
            return heartbeat.lost.is_set() or self.shutting_down.is_set() or self.store.is_cancel_requested(job.id)

        try:
            if self.engine.state is not ModelState.READY:
                self._report(job, ProgressStage.LOADING_MODEL, f"Loading {self.engine.model_id}", 0)
                self.engine.load()
            self._report(job, ProgressStage.PREPARING, "Reading the inputs and the instruction", 2)
            images = self.blobs.load_inputs(job.id, job.input_count)
            result = self.engine.edit(
                images,
                job.request,
                on_step=lambda step: self._on_step(job, step),
                should_cancel=should_stop,
                output_size=exact_output_size(job) if job.request.keep_input_size else None,
            )
            self._report(job, ProgressStage.SAVING, "Saving the result", 98)
            name = self.blobs.save_output(job.id, result.image, job.request.output_format)
            self.lifecycle.complete(job.id, self.worker_id, [name])
        except EditCancelled:
            if heartbeat.lost.is_set():
                log.warning("job %s: lease lost to another worker; stopped without recording", job.id)
                return
            if self.shutting_down.is_set() and not self.store.is_cancel_requested(job.id):
                self.lifecycle.release(job.id, self.worker_id)
                return
            self.lifecycle.cancelled(job.id, self.worker_id)
        except InvalidTransition:
            log.warning("job %s changed hands while running; leaving it to its new owner", job.id, exc_info=True)
        except Exception as exc:  # one job's failure must never stop the worker
            self._fail(job, describe_failure(exc), exc)

    def _on_step(self, job: Job, step: StepProgress) -> None:
        share = step.step / step.total
        done = step.step == step.total
        self._report(
            job,
            ProgressStage.DECODING if done else ProgressStage.DENOISING,
            "Decoding the image" if done else f"Step {step.step} of {step.total}",
            _DENOISE_START + share * (_DENOISE_END - _DENOISE_START),
            step=step.step,
            total_steps=step.total,
            eta_seconds=None if step.eta_seconds is None else round(step.eta_seconds, 1),
        )

    def _report(
        self,
        job: Job,
        stage: ProgressStage,
        message: str,
        percent: float,
        *,
        step: int | None = None,
        total_steps: int | None = None,
        eta_seconds: float | None = None,
    ) -> None:
        progress = Progress(
            stage=stage,
            message=message,
            progress=round(percent, 1),
            step=step,
            total_steps=total_steps,
            eta_seconds=eta_seconds,
            updated_at=datetime.now(UTC),
        )
        self.lifecycle.progress(job.id, self.worker_id, progress)

    def _fail(self, job: Job, reason: str, exc: Exception) -> None:
        # The reason is for people and may quote the input; the traceback is for us, unless we refused it.
        log.error("job %s failed: %s", job.id, reason, exc_info=not isinstance(exc, InvalidRequest))
        with contextlib.suppress(InvalidTransition):  # it changed hands meanwhile: its new owner ends it
            self.lifecycle.fail(job.id, self.worker_id, reason)


def exact_output_size(job: Job) -> tuple[int, int] | None:
    """The last upload's size as sent, when its stored input is smaller (None: the stored one is exact)."""
    return job.original_sizes[-1] if job.original_sizes else None


def describe_failure(exc: Exception) -> str:
    """A reason for people, saying what to do where we can."""
    if isinstance(exc, InvalidRequest | ModelUnavailable | OutOfMemory):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "the disk of the data directory is full; free space (e.g. `qie cleanup --hours 1`) and retry"
    if isinstance(exc, FileNotFoundError):
        return f"the job's input files are missing ({exc}); submit the images again"
    return f"unexpected {type(exc).__name__}: {exc}"
