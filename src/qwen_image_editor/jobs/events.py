"""Typed notifications about a job, sent from the worker to every WebSocket that watches it.

They are hints: a client can always resync from `GET /api/jobs/{id}`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from qwen_image_editor.jobs.records import Progress
from qwen_image_editor.jobs.states import JobStatus


class StatusEvent(BaseModel):
    type: Literal["status"] = "status"
    job_id: str
    status: JobStatus
    queue_position: int | None = None


class ProgressEvent(BaseModel):
    type: Literal["progress"] = "progress"
    job_id: str
    status: Literal[JobStatus.PROCESSING] = JobStatus.PROCESSING
    progress: Progress


class CompleteEvent(BaseModel):
    type: Literal["complete"] = "complete"
    job_id: str
    status: Literal[JobStatus.COMPLETE] = JobStatus.COMPLETE
    outputs: list[str]


class ErrorEvent(BaseModel):
    type: Literal["error"] = "error"
    job_id: str
    status: Literal[JobStatus.ERROR] = JobStatus.ERROR
    error: str


class CancelledEvent(BaseModel):
    type: Literal["cancelled"] = "cancelled"
    job_id: str
    status: Literal[JobStatus.CANCELLED] = JobStatus.CANCELLED


class SnapshotMessage(BaseModel):
    """The first message on a job's WebSocket: the job as it is now."""

    type: Literal["snapshot"] = "snapshot"
    job_id: str
    status: JobStatus
    progress: Progress | None
    error: str | None
    queue_position: int | None


JobEvent = Annotated[
    StatusEvent | ProgressEvent | CompleteEvent | ErrorEvent | CancelledEvent, Field(discriminator="type")
]
TERMINAL_EVENT_TYPES = frozenset({"complete", "error", "cancelled"})
