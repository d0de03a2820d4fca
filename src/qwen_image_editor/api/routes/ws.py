"""`/ws/{job_id}`: a snapshot, then one message per change, then close after the final one."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from qwen_image_editor.errors import JobNotFound
from qwen_image_editor.events.base import Subscription
from qwen_image_editor.jobs.events import (
    TERMINAL_EVENT_TYPES,
    CancelledEvent,
    CompleteEvent,
    ErrorEvent,
    JobEvent,
    ProgressEvent,
    SnapshotMessage,
    StatusEvent,
)
from qwen_image_editor.jobs.records import Job
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.services import Services
from qwen_image_editor.worker.runner import output_urls

router = APIRouter()

CLOSE_UNKNOWN_JOB = 4404
# Without events for this long, re-read the job: events are hints (a worker in another process sends none).
RESYNC_SECONDS = 2.0


def _final_message(job: Job) -> JobEvent:
    if job.status is JobStatus.COMPLETE:
        return CompleteEvent(job_id=job.id, outputs=output_urls(job))
    if job.status is JobStatus.ERROR:
        return ErrorEvent(job_id=job.id, error=job.error or "failed")
    return CancelledEvent(job_id=job.id)


async def _snapshot(services: Services, job_id: str) -> SnapshotMessage:
    job = await run_in_threadpool(services.jobs.get, job_id)
    position = await run_in_threadpool(services.jobs.queue_position, job)
    return SnapshotMessage(
        job_id=job.id, status=job.status, progress=job.progress, error=job.error, queue_position=position
    )


def _apply(seen: SnapshotMessage, event: JobEvent) -> SnapshotMessage:
    """What the client knows after `event`, so a quiet-time resync sends only what is new."""
    if isinstance(event, ProgressEvent):
        return seen.model_copy(update={"status": event.status, "progress": event.progress, "queue_position": None})
    if isinstance(event, StatusEvent):
        return seen.model_copy(update={"status": event.status, "queue_position": event.queue_position})
    return seen


@router.websocket("/ws/{job_id}")
async def watch_job(websocket: WebSocket, job_id: str) -> None:
    services: Services = websocket.app.state.services
    await websocket.accept()  # accept first: a close before accepting reaches browsers as a bare HTTP 403
    try:
        job = await run_in_threadpool(services.jobs.get, job_id)
        # Subscribe before reading the snapshot, so nothing falls between the two.
        async with services.events.subscribe(job.id) as subscription:
            await _follow(websocket, services, subscription, job.id)
    except JobNotFound:  # unknown, or deleted while watched
        await websocket.close(code=CLOSE_UNKNOWN_JOB, reason="no such job")
    except (WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
        return  # the client went away


async def _follow(websocket: WebSocket, services: Services, subscription: Subscription, job_id: str) -> None:
    """Send the snapshot, then every event; re-read the job when quiet (events are hints, and a queued
    job's position changes without events of its own). Close after the final message."""
    last = await _snapshot(services, job_id)
    await websocket.send_text(last.model_dump_json())
    while not last.status.is_terminal:
        event = await subscription.next_event(RESYNC_SECONDS)
        if event is not None:
            await websocket.send_text(event.model_dump_json())
            if event.type in TERMINAL_EVENT_TYPES:
                await websocket.close(code=1000)
                return
            last = _apply(last, event)
            continue
        latest = await _snapshot(services, job_id)
        if latest != last and not latest.status.is_terminal:
            await websocket.send_text(latest.model_dump_json())
        last = latest
    job = await run_in_threadpool(services.jobs.get, job_id)
    await websocket.send_text(_final_message(job).model_dump_json())
    await websocket.close(code=1000)
