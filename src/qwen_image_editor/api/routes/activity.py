"""`/ws`: everything the page's queue strip and header need, live: the caller's queued and running jobs,
the queue's length, and each change to them, so nothing has to poll."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from qwen_image_editor.accounts import Caller
from qwen_image_editor.api.routes.ws import CLOSE_NOT_AUTHORISED, close_reason, send_message, while_connected
from qwen_image_editor.api.schemas import ActiveJobsMessage
from qwen_image_editor.api.views import job_message, job_view, progress_message
from qwen_image_editor.events.base import Subscription
from qwen_image_editor.events.local import EVERY_JOB
from qwen_image_editor.jobs.events import JobChanged, JobProgressed
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.services import Services

router = APIRouter()

ACTIVE = (JobStatus.QUEUED, JobStatus.PROCESSING)
MAX_ACTIVE_LISTED = 200  # per-key queues are capped far below this; admins see the first 200
# Without events for this long, tell the client the current state again (an event from another process
# is lost while the database connection is down).
RESYNC_SECONDS = 5.0


@router.websocket("/ws")
async def watch_activity(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    await websocket.accept()
    caller: Caller | None = websocket.scope["state"].get("caller")  # set by the access middleware
    if caller is None:
        refused = websocket.scope["state"].get("refused", "not authorised")
        await websocket.close(code=CLOSE_NOT_AUTHORISED, reason=close_reason(refused))
        return
    try:
        async with services.events.subscribe(EVERY_JOB) as subscription:
            await while_connected(websocket, _follow(websocket, services, caller, subscription))
    except (WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
        return


async def _follow(websocket: WebSocket, services: Services, caller: Caller, subscription: Subscription) -> None:
    mine = await _send_active(websocket, services, caller)
    while True:
        event = await subscription.next_event(RESYNC_SECONDS)
        if isinstance(event, JobProgressed):
            if event.job_id in mine:
                await send_message(websocket, progress_message(event))
            continue
        if isinstance(event, JobChanged) and _sees(caller, event.job.owner):
            view = job_view(event.job, None, retention_hours=services.settings.retention_hours)
            await send_message(websocket, job_message(view, event.kind))
        # Any change moves the queue: positions and the length, for everyone.
        mine = await _send_active(websocket, services, caller)


def _sees(caller: Caller, owner: str | None) -> bool:
    return caller.sees is None or caller.sees == owner


async def _send_active(websocket: WebSocket, services: Services, caller: Caller) -> set[str]:
    def read() -> ActiveJobsMessage:
        jobs, _ = services.jobs.list(limit=MAX_ACTIVE_LISTED, offset=0, status=ACTIVE, owner=caller.sees)
        jobs.reverse()  # oldest first, as they will run
        positions = services.jobs.queue_positions(jobs)
        retention = services.settings.retention_hours
        return ActiveJobsMessage(
            queue_length=services.store.count_by_status()[JobStatus.QUEUED],
            jobs=[job_view(job, positions.get(job.id), retention_hours=retention) for job in jobs],
        )

    message = await run_in_threadpool(read)
    await send_message(websocket, message)
    return {job.job_id for job in message.jobs}
