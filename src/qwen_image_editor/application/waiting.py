"""Waiting for a job to end, for callers that answer only with the result (the OpenAI-compatible route)."""

from __future__ import annotations

import asyncio
import time

from qwen_image_editor.application.jobs import JobService
from qwen_image_editor.events.base import RESYNC_SECONDS, EventBus
from qwen_image_editor.jobs.events import JobChanged
from qwen_image_editor.jobs.records import Job


async def wait_for_end(jobs: JobService, events: EventBus, job_id: str, timeout: float) -> Job:
    """The job once it is final, or as it is after `timeout` seconds (still running or queued)."""
    deadline = time.monotonic() + timeout
    async with events.subscribe(job_id) as subscription:
        job = await asyncio.to_thread(jobs.get, job_id)  # read after subscribing: nothing falls in between
        while not job.status.is_terminal:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            event = await subscription.next_event(min(left, RESYNC_SECONDS))
            if isinstance(event, JobChanged):
                job = event.job
            elif event is None:
                job = await asyncio.to_thread(jobs.get, job_id)
        return job
