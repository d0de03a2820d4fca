"""Decisions and messages shared by every store backend, so they behave and speak alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qwen_image_editor.errors import InvalidTransition, QueueFull
from qwen_image_editor.jobs.states import JobStatus, check_transition


def utcnow() -> datetime:
    return datetime.now(UTC)


def lease_deadline(now: datetime, lease_seconds: float) -> datetime:
    return now + timedelta(seconds=lease_seconds)


def check_queue_room(queued: int, max_queued: int | None) -> None:
    if max_queued is not None and queued >= max_queued:
        raise QueueFull(
            f"the queue is full: {queued} jobs are waiting (the limit is {max_queued}); try again in a minute"
        )


def check_worker_change(
    job_id: str, status: JobStatus, claimed_by: str | None, worker_id: str | None, target: JobStatus
) -> None:
    """A worker may end only a job it holds; `worker_id` None may only fail a job still queued."""
    check_transition(status, target)
    if worker_id is None:
        if status is not JobStatus.QUEUED:
            raise InvalidTransition(
                f"job {job_id} is {status} on worker {claimed_by}; only that worker can end it (expected queued)"
            )
        return
    if status is not JobStatus.PROCESSING or claimed_by != worker_id:
        raise InvalidTransition(
            f"job {job_id} is {status} and held by {claimed_by or 'no worker'}, not by {worker_id}: "
            "this worker lost it (its lease expired?) and must stop (expected processing by this worker)"
        )


def holds(status: JobStatus, claimed_by: str | None, worker_id: str) -> bool:
    return status is JobStatus.PROCESSING and claimed_by == worker_id


def check_cancellable(job_id: str, status: JobStatus) -> None:
    if status.is_terminal:
        raise InvalidTransition(f"job {job_id} is already {status}; there is nothing to cancel")


def check_undoable(
    job_id: str, status: JobStatus, finished_at: datetime | None, deleted: bool, now: datetime, within_seconds: float
) -> None:
    """Only a cancel can be undone, and only moments after it: later, submitting it again is the clear way."""
    if deleted:
        raise InvalidTransition(f"job {job_id} was deleted; there is no cancel to undo")
    if status is not JobStatus.CANCELLED:
        if status is JobStatus.PROCESSING:
            raise InvalidTransition(f"job {job_id} is still stopping; undo its cancel once it has stopped")
        raise InvalidTransition(f"job {job_id} is {status}, not cancelled: there is no cancel to undo")
    if finished_at is None or (now - finished_at).total_seconds() > within_seconds:
        raise InvalidTransition(
            f"job {job_id} was cancelled more than {within_seconds:g} s ago, too long to undo; "
            "submit it again instead (Reuse keeps its settings and seed)"
        )


def check_deletable(job_id: str, status: JobStatus) -> None:
    if status is JobStatus.PROCESSING:
        raise InvalidTransition(
            f"job {job_id} is processing and cannot be deleted; cancel it and delete it once it has stopped"
        )


def recovery_outcome(attempts: int, max_attempts: int, cancel_requested: bool) -> tuple[JobStatus, str | None]:
    """Where a job whose worker's lease expired goes next, and the reason shown when it fails."""
    if cancel_requested:
        return JobStatus.CANCELLED, None  # it was being cancelled anyway: do not run it again
    if attempts < max_attempts:
        return JobStatus.QUEUED, None
    return JobStatus.ERROR, f"the worker stopped during this job (run {attempts} of {max_attempts}); not retried"


def require_aware(moment: datetime) -> datetime:
    """The store compares instants; a naive datetime has no instant, so refuse it early and clearly."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: pass a timezone-aware time (e.g. datetime.now(UTC))")
    return moment.astimezone(UTC)
