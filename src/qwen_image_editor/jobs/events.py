"""What happened to a job, as the store recorded it. Workers and the job service publish these through
the event bus; the API turns them into WebSocket messages.

They are hints: a client can always resync from `GET /api/jobs/{id}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from qwen_image_editor.jobs.records import Job, Progress
from qwen_image_editor.jobs.states import JobStatus


class JobEventKind(StrEnum):
    """A change in a job's life, named from the user's side."""

    QUEUED = "queued"  # accepted and waiting
    STARTED = "started"  # a worker claimed it
    PROGRESS = "progress"  # a processing job moved on (a stage or a denoising step)
    REQUEUED = "requeued"  # back in the queue: its worker died or shut down mid-run
    COMPLETE = "complete"  # its outputs are in place
    ERROR = "error"  # failed for good
    CANCELLED = "cancelled"  # stopped on request


_KIND_OF_STATUS = {
    JobStatus.PROCESSING: JobEventKind.STARTED,
    JobStatus.COMPLETE: JobEventKind.COMPLETE,
    JobStatus.ERROR: JobEventKind.ERROR,
    JobStatus.CANCELLED: JobEventKind.CANCELLED,
}


def change_kind(previous: JobStatus | None, current: JobStatus) -> JobEventKind:
    """The event a recorded change from `previous` (None: the job is new) to `current` is."""
    if current is JobStatus.QUEUED:
        return JobEventKind.QUEUED if previous is None else JobEventKind.REQUEUED
    return _KIND_OF_STATUS[current]


@dataclass(frozen=True)
class JobChanged:
    """A job's state changed; `job` is the record as the store wrote it."""

    kind: JobEventKind
    previous: JobStatus | None
    job: Job

    @property
    def job_id(self) -> str:
        return self.job.id


@dataclass(frozen=True)
class Preview:
    """A small image of the result as it forms (a few KB); rides on progress events only, never stored."""

    media_type: str
    data: bytes


@dataclass(frozen=True)
class JobProgressed:
    """A processing job reported progress. Kept small: one is sent per denoising step."""

    job_id: str
    progress: Progress
    kind: JobEventKind = JobEventKind.PROGRESS
    preview: Preview | None = None


JobEvent = JobChanged | JobProgressed
