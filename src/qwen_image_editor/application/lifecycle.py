"""Every change in a job's life goes through `JobLifecycle`: the store records it, then the event and the
log line are derived here, from what the store recorded, and nowhere else."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime

from qwen_image_editor.application.metrics import Metrics
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.errors import JobNotFound
from qwen_image_editor.events.base import EventBus
from qwen_image_editor.jobs.events import JobChanged, JobProgressed, Preview, change_kind
from qwen_image_editor.jobs.records import Job, JobRegion, Progress
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.store.base import JobStore

log = logging.getLogger("qwen_image_editor.jobs")


class JobLifecycle:
    """The store's state changes, each followed by one event on the bus and one INFO line in the log."""

    def __init__(
        self,
        store: JobStore,
        events: EventBus,
        metrics: Metrics | None = None,
        *,
        delete_files: Callable[[str], object] | None = None,
    ) -> None:
        self.store, self.events = store, events
        self.metrics = metrics or Metrics()
        # removes a job's files (BlobStore.delete_job_files): a job deleted while it ran goes once it stops
        self._delete_files = delete_files
        self._on_queued: list[Callable[[], None]] = []
        self._on_finished: list[Callable[[], None]] = []
        self._listeners_lock = threading.Lock()

    def when_queued(self, callback: Callable[[], None]) -> None:
        """Call `callback` (quick, from any thread) whenever a job is queued or requeued: wakes idle workers."""
        with self._listeners_lock:
            self._on_queued.append(callback)

    def when_finished(self, callback: Callable[[], None]) -> None:
        """Call `callback` (quick, from any thread) whenever a job ends: wakes the webhook sender (the store
        recorded the delivery in the same transaction as the end, so nothing is lost if this never runs)."""
        with self._listeners_lock:
            self._on_finished.append(callback)

    # -- from the job service -------------------------------------------------------------------
    def create(
        self,
        job_id: str,
        request: EditRequest,
        input_count: int,
        *,
        owner: str | None,
        max_queued: int,
        original_sizes: Sequence[tuple[int, int]] = (),
        region: JobRegion | None = None,
    ) -> Job:
        job = self.store.create_job(
            job_id,
            request,
            input_count,
            owner=owner,
            max_queued=max_queued,
            original_sizes=original_sizes,
            region=region,
        )
        return self._changed(None, job)

    def request_cancel(self, job_id: str, *, owner: str | None = None) -> Job:
        """A queued job is cancelled now (an event); a running one is only flagged for its worker."""
        job = self.store.request_cancel(job_id, owner=owner)
        return self._changed(JobStatus.QUEUED, job) if job.status is JobStatus.CANCELLED else job

    def cancel_queued(self, *, owner: str | None) -> list[Job]:
        """Every queued job of `owner` (None: everyone's) cancelled at once: one event each."""
        return [self._changed(JobStatus.QUEUED, job) for job in self.store.cancel_queued(owner=owner)]

    def undo_cancel(self, job_id: str, *, owner: str | None, within_seconds: float) -> Job:
        """A job cancelled moments ago queued again, ahead of the rest (a `requeued` event wakes a worker)."""
        job = self.store.undo_cancel(job_id, owner=owner, within_seconds=within_seconds)
        return self._changed(JobStatus.CANCELLED, job)

    # -- from workers ---------------------------------------------------------------------------
    def claim_next(self, worker_id: str, lease_seconds: float) -> Job | None:
        job = self.store.claim_next_job(worker_id, lease_seconds)
        return None if job is None else self._changed(JobStatus.QUEUED, job)

    def progress(self, job_id: str, worker_id: str, progress: Progress, preview: Preview | None = None) -> None:
        """Record progress, then tell watchers; a preview rides on the event only, never into the store."""
        self.store.update_progress(job_id, worker_id, progress)
        self.events.publish(JobProgressed(job_id=job_id, progress=progress, preview=preview))

    def complete(
        self,
        job_id: str,
        worker_id: str,
        output_names: list[str],
        *,
        flattened: bool = False,
        region: JobRegion | None = None,
    ) -> Job:
        """`region`: the job's region as the edit ran it, when that differs from what was planned."""
        ran = {"region": region} if region is not None else {}
        job = self.store.complete_job(job_id, worker_id, output_names, flattened=flattened, **ran)
        return self._changed(JobStatus.PROCESSING, job, worker_id)

    def fail(self, job_id: str, worker_id: str, reason: str) -> Job:
        return self._changed(JobStatus.PROCESSING, self.store.fail_job(job_id, worker_id, reason), worker_id)

    def cancelled(self, job_id: str, worker_id: str) -> Job:
        return self._changed(JobStatus.PROCESSING, self.store.mark_cancelled(job_id, worker_id), worker_id)

    def release(self, job_id: str, worker_id: str) -> Job:
        """Hand a running job back to the queue (its worker is shutting down)."""
        return self._changed(JobStatus.PROCESSING, self.store.release_job(job_id, worker_id), worker_id)

    def recover_expired_leases(self, max_attempts: int, *, held: Collection[str] = ()) -> list[Job]:
        """Jobs whose worker died (its lease expired): requeued while attempts remain, else failed; never
        those in `held` (the calling worker's own)."""
        recovered = self.store.recover_expired_leases(max_attempts, held=held)
        return [self._changed(JobStatus.PROCESSING, job, "(lease expired)") for job in recovered]

    def recover_previous_run(self, worker_name: str, worker_id: str, max_attempts: int) -> list[Job]:
        """At a worker's start: the jobs its previous run (same name, crashed) held, requeued at once."""
        recovered = self.store.recover_previous_run(worker_name, worker_id, max_attempts)
        return [self._changed(JobStatus.PROCESSING, job, "(restart)") for job in recovered]

    # -- the one place events and log lines are made --------------------------------------------
    def _changed(self, previous: JobStatus | None, job: Job, worker: str | None = None) -> Job:
        kind = change_kind(previous, job.status)
        # Prompts stay out of INFO: logs are shared more widely than the jobs themselves.
        log.info(
            "job %s %s: %s -> %s (attempt %d, worker %s, %.1fs)",
            job.id,
            kind,
            previous or "new",
            job.status,
            job.attempts,
            worker or job.claimed_by or "-",
            _seconds_in_previous_state(previous, job),
        )
        self.events.publish(JobChanged(kind=kind, previous=previous, job=job))
        self.metrics.job_changed(previous, job)
        if job.status is JobStatus.QUEUED or job.status.is_terminal:
            with self._listeners_lock:
                listeners = list(self._on_queued if job.status is JobStatus.QUEUED else self._on_finished)
            for listener in listeners:
                listener()
        if job.delete_requested and job.status.is_terminal:
            self._forget(job)
        return job

    def _forget(self, job: Job) -> None:
        """The job was deleted while it ran and has now stopped: its record and files go. A failure here leaves
        it hidden from lists and marked; deleting it again, or cleanup (for its files), finishes the work."""
        try:
            self.store.delete_job(job.id)
            if self._delete_files is not None:
                self._delete_files(job.id)
        except JobNotFound:  # a DELETE that came after it stopped removed it (record and files) first
            return
        except Exception:
            log.exception("job %s stopped but could not be deleted; delete it again to finish", job.id)
            return
        log.info("job %s deleted (it was %s; deleted while it ran)", job.id, job.status)


def _seconds_in_previous_state(previous: JobStatus | None, job: Job) -> float:
    """How long the job spent waiting (before a start) or running (before an end or a requeue)."""
    if previous is None:
        return 0.0
    since = job.started_at if previous is JobStatus.PROCESSING and job.started_at else job.created_at
    return max(0.0, (datetime.now(UTC) - since).total_seconds())
