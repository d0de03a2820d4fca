"""The finish stage: a job's results composited, encoded and stored on the finishing pool, and every job's
outcome (done, cancelled, failed, back to the queue) recorded, in the order the model finished the jobs."""

from __future__ import annotations

import contextlib
import enum
import errno
import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from qwen_image_editor.application.jobs import UNDO_CANCEL_SECONDS
from qwen_image_editor.edit_request import embedded_settings
from qwen_image_editor.engine.base import EditResult
from qwen_image_editor.errors import (
    InvalidRequest,
    InvalidTransition,
    JobNotFound,
    ModelUnavailable,
    OutOfMemory,
    StorageFull,
    StorageUnavailable,
)
from qwen_image_editor.imaging import flattened_by
from qwen_image_editor.jobs.records import Job, JobRegion
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.regions import RegionEdit
from qwen_image_editor.worker.checkpoints import CheckpointWriter
from qwen_image_editor.worker.heartbeat import Heartbeat

if TYPE_CHECKING:
    from qwen_image_editor.worker.runner import Worker

log = logging.getLogger(__name__)
# A cancel undone in its last moment is requeued a moment later: its checkpoint is still there for it then.
_UNDO_MARGIN_SECONDS = 10.0


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


class Outcomes:
    """Saves a job's results and records how each job ended, for one run of the worker's loop. `save` runs on the
    finishing pool; the others on the recorder thread."""

    def __init__(self, worker: Worker, checkpoints: CheckpointWriter) -> None:
        self._worker, self._checkpoints = worker, checkpoints

    def save(
        self, job: Job, heartbeat: Heartbeat, results: list[EditResult], region: RegionEdit | None
    ) -> _Saved | _NotSaved:
        """Put a masked job's results back on image 1, then encode and store them (on a finishing thread); their
        names, or why nothing was saved."""
        worker = self._worker
        if heartbeat.lost.is_set():
            return _NotSaved.LEASE_LOST
        if worker.store.is_cancel_requested(job.id):  # cancelled during its last step: nobody wants it
            return _NotSaved.CANCELLED
        started = time.perf_counter()
        if region is not None:  # CPU work on image 1's full size: here, not on the model thread
            results = [replace(result, image=region.put_back(result.image)) for result in results]
        names = [
            worker.blobs.save_output(
                job.id,
                result.image,
                job.request.output_format,
                index,
                embedded_settings(
                    job.request, seed=result.seed, model=worker.engine.model_id, masked=job.region is not None
                ),
            )
            for index, result in enumerate(results, start=1)
        ]
        seconds = time.perf_counter() - started
        worker.metrics.stage_duration.labels("finish").observe(seconds)
        megapixels = sum(result.image.width * result.image.height for result in results) / 1e6
        worker.metrics.finish_per_megapixel.observe(seconds / megapixels)
        # exactly what encode_image did: JPEG composited a result with transparency (2.1 draws alpha) on white
        flattened = any(flattened_by(result.image, job.request.output_format) for result in results)
        return _Saved(names, flattened, results[0].region_approach)

    def record_saved(self, job: Job, heartbeat: Heartbeat, saved: Future[_Saved | _NotSaved]) -> None:
        """Record the outcome of `save` (on the recorder thread, in the order the model finished the jobs)."""
        worker = self._worker
        try:
            outcome = saved.result()
            if outcome is _NotSaved.LEASE_LOST or heartbeat.lost.is_set():
                log.warning("job %s: lease lost to another worker; its result is dropped", job.id)
            elif outcome is _NotSaved.CANCELLED:
                worker.lifecycle.cancelled(job.id, worker.worker_id)
                self._keep_checkpoint_for_undo(job)
            else:
                # Only now, with every file in place, does the record name them: a failure above leaves no
                # result referenced (files already written are complete, and go with the job).
                ran = _as_run(job, outcome)
                worker.lifecycle.complete(
                    job.id, worker.worker_id, list(outcome.names), flattened=outcome.flattened, region=ran
                )
                self._forget_checkpoint(job)
        except StorageUnavailable as exc:
            # An error, not a requeue: the S3 client has retried already, and requeueing would run the whole edit
            # again only to meet the same outage (its inputs sit in that store too), while `max_attempts` is
            # kept for workers that die. The reason says so; submitting again is cheap once the store is back.
            self.fail(job, f"could not store the result: {exc.reason}; submit the edit again once it is back", exc)
        except InvalidTransition:
            log.warning("job %s changed hands while finishing; leaving it to its new owner", job.id, exc_info=True)
        except Exception as exc:
            self.fail(job, describe_failure(exc), exc)

    def stopped(self, job: Job, heartbeat: Heartbeat) -> None:
        """The edit stopped at a step: lease lost, shutting down (back to the queue) or cancelled."""
        worker = self._worker
        if heartbeat.lost.is_set():
            log.warning("job %s: lease lost to another worker; stopped without recording", job.id)
            return
        if worker.shutting_down.is_set() and not worker.store.is_cancel_requested(job.id):
            self._checkpoints.flush()  # its checkpoint of the step it stopped at is in place before it is requeued
            self.hand_back(job)
            return
        # JobNotFound: it was deleted while it ran, and its end is recorded and it is gone already
        with contextlib.suppress(InvalidTransition, JobNotFound):
            worker.lifecycle.cancelled(job.id, worker.worker_id)
        self._keep_checkpoint_for_undo(job)

    def hand_back(self, job: Job) -> None:
        """Back to the queue, its place kept (its checkpoint stays: its next run continues from it)."""
        with contextlib.suppress(InvalidTransition, JobNotFound):  # it changed hands meanwhile (or was deleted)
            self._worker.lifecycle.release(job.id, self._worker.worker_id)

    def fail(self, job: Job, reason: str, exc: Exception) -> None:
        # The reason is for people and may quote the input; the traceback is for us, unless we refused it.
        log.error("job %s failed: %s", job.id, reason, exc_info=not isinstance(exc, InvalidRequest | StorageFull))
        with contextlib.suppress(InvalidTransition, JobNotFound):  # it changed hands meanwhile (or was deleted)
            self._record_failure(job, reason)
        self._forget_checkpoint(job)

    def _forget_checkpoint(self, job: Job) -> None:
        """The job ended (or is no longer this worker's to end): its checkpoint goes, after any still being stored.
        Not for a job handed back to the queue: its next run continues from it."""
        self._checkpoints.forget(job.id)

    def _keep_checkpoint_for_undo(self, job: Job) -> None:
        """A cancelled job's checkpoint stays while the cancel can be undone, so that an undone job continues from
        the step it was cancelled at; then it goes, unless the job was undone (its run then owns it)."""
        store = self._worker.store

        def still_cancelled() -> bool:
            try:
                return store.get_job(job.id).status is JobStatus.CANCELLED
            except JobNotFound:  # deleted, its folder and checkpoint with it
                return False

        self._checkpoints.forget_later(job.id, UNDO_CANCEL_SECONDS + _UNDO_MARGIN_SECONDS, still_cancelled)

    def _record_failure(self, job: Job, reason: str) -> None:
        """Record the failure; while the database's disk is full, try again until it has room (the job keeps
        its lease meanwhile, so it ends as `error` with its reason, not requeued to meet the same full disk),
        or until the worker stops (then its lease expires and it is requeued)."""
        worker = self._worker
        warned = False
        while True:
            try:
                worker.lifecycle.fail(job.id, worker.worker_id, reason)
                return
            except StorageFull:
                if not warned:
                    log.warning("job %s: its failure is recorded once the disk has room again", job.id)
                    warned = True
                if worker.shutting_down.wait(max(worker.timing.poll_seconds, 0.1)):
                    return
                # Another worker requeued it meanwhile (its lease lapsed) and a later run of it, perhaps by this
                # worker (same id), holds it now: that run's end is its own, not this one's stale failure.
                now = worker.store.get_job(job.id)
                if now.status is not JobStatus.PROCESSING or now.attempts != job.attempts:
                    return


def _as_run(job: Job, saved: _Saved) -> JobRegion | None:
    """The job's region with the approach the engine reports, when it reports one other than the planned one."""
    if job.region is None or saved.region_approach in (None, job.region.approach):
        return None
    return replace(job.region, approach=saved.region_approach)


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
