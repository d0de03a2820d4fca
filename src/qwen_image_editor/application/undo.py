"""Undoing a cancel: a running job stops at its next step, so the undo waits for that before it requeues it."""

from __future__ import annotations

import asyncio

from qwen_image_editor.application.jobs import JobService
from qwen_image_editor.application.waiting import wait_for_end
from qwen_image_editor.events.base import EventBus
from qwen_image_editor.jobs.records import Job
from qwen_image_editor.jobs.states import JobStatus

# A cancelled run stops at its next step; a step of the real model takes seconds at most.
STOPPING_WAIT_SECONDS = 15.0


async def undo_cancel(
    jobs: JobService, events: EventBus, job_id: str, *, owner: str | None, wait_seconds: float = STOPPING_WAIT_SECONDS
) -> Job:
    """The job queued again ahead of the rest, once its cancelled run (if any) has stopped. InvalidTransition when
    it was not cancelled, was cancelled too long ago, or is still stopping after `wait_seconds`."""
    job = await asyncio.to_thread(jobs.get, job_id, owner=owner)  # someone else's job: JobNotFound, as ever
    if job.status is JobStatus.PROCESSING and job.cancel_requested:
        await wait_for_end(jobs, events, job.id, wait_seconds)
    return await asyncio.to_thread(jobs.undo_cancel, job.id, owner=owner)
