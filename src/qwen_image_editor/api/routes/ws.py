"""`/ws/{job_id}`: a snapshot, then one message per change, then close after the final one."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from qwen_image_editor.errors import JobNotFound
from qwen_image_editor.jobs.events import (
    TERMINAL_EVENT_TYPES,
    CancelledEvent,
    CompleteEvent,
    ErrorEvent,
    JobEvent,
    SnapshotMessage,
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


@router.websocket("/ws/{job_id}")
async def watch_job(websocket: WebSocket, job_id: str) -> None:
    services: Services = websocket.app.state.services
    await websocket.accept()  # accept first: a close before accepting reaches browsers as a bare HTTP 403
    try:
        job = await run_in_threadpool(services.jobs.get, job_id)
    except JobNotFound:
        await websocket.close(code=CLOSE_UNKNOWN_JOB, reason="no such job")
        return
    # Subscribe before reading the snapshot, so nothing falls between the two.
    async with services.events.subscribe(job.id) as subscription:
        job = await run_in_threadpool(services.jobs.get, job.id)
        position = await run_in_threadpool(services.jobs.queue_position, job)
        snapshot = SnapshotMessage(
            job_id=job.id, status=job.status, progress=job.progress, error=job.error, queue_position=position
        )
        try:
            await websocket.send_text(snapshot.model_dump_json())
            last_seen = job
            while not last_seen.status.is_terminal:
                event = await subscription.next_event(RESYNC_SECONDS)
                if event is None:
                    latest = await run_in_threadpool(services.jobs.get, job.id)
                    if latest.status.is_terminal or latest.progress != last_seen.progress:
                        last_seen = latest
                        if not latest.status.is_terminal:
                            await websocket.send_text(snapshot_of(latest).model_dump_json())
                    continue
                await websocket.send_text(event.model_dump_json())
                if event.type in TERMINAL_EVENT_TYPES:
                    await websocket.close(code=1000)
                    return
            await websocket.send_text(_final_message(last_seen).model_dump_json())
            await websocket.close(code=1000)
        except (WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
            return  # the client went away


def snapshot_of(job: Job) -> SnapshotMessage:
    return SnapshotMessage(
        job_id=job.id, status=job.status, progress=job.progress, error=job.error, queue_position=None
    )
