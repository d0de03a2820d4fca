"""`/ws/{job_id}`: the whole job first, a small message per step, the whole job at every change of state,
then close after the final one. A page renders a job, live or finished, from these messages alone."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from qwen_image_editor.accounts import Caller
from qwen_image_editor.api.credential_watch import CredentialWatch
from qwen_image_editor.api.schemas import JobView, WsCloseCode
from qwen_image_editor.api.views import job_message, job_view, progress_message
from qwen_image_editor.errors import JobNotFound
from qwen_image_editor.events.base import RESYNC_SECONDS, Subscription
from qwen_image_editor.jobs.events import JobChanged, JobEventKind, JobProgressed, change_kind
from qwen_image_editor.jobs.records import Job, Progress
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.services import Services

log = logging.getLogger(__name__)
router = APIRouter()

# A watcher whose message has not left for this long (its socket's bounded send buffer stayed full: it
# stopped reading) is dropped, so it holds no more than that buffer. Others never wait for it: each socket
# has its own task, and the event bus drops a slow subscriber's oldest progress rather than block.
SEND_TIMEOUT_SECONDS = 10.0

# What a client has been told, as far as a resync needs to know whether to tell it again.
_Told = tuple[JobStatus, int | None, datetime | None]


def _told(status: JobStatus, queue_position: int | None, progress: Progress | None) -> _Told:
    return status, queue_position, progress.updated_at if progress else None


@router.websocket("/ws/{job_id}")
async def watch_job(websocket: WebSocket, job_id: str) -> None:
    services: Services = websocket.app.state.services
    await websocket.accept()  # accept first: a close before accepting reaches browsers as a bare HTTP 403
    caller: Caller | None = websocket.scope["state"].get("caller")  # set by the access middleware
    if caller is None:
        refused = websocket.scope["state"].get("refused", "not authorised")
        await websocket.close(code=WsCloseCode.NOT_AUTHORISED, reason=close_reason(refused))
        return
    try:
        job = await run_in_threadpool(lambda: services.jobs.get(job_id, owner=caller.sees))
        # Subscribe before reading the snapshot, so nothing falls between the two.
        async with services.events.subscribe(job.id) as subscription:
            await while_connected(websocket, caller, _follow(websocket, services, subscription, job.id))
    except _StoppedReading:
        log.info("closed a watcher of job %s that stopped reading for %gs", job_id, SEND_TIMEOUT_SECONDS)
    except JobNotFound:  # unknown, or deleted while watched
        await websocket.close(code=WsCloseCode.UNKNOWN_JOB, reason="no such job")
    except (WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
        return  # the client went away


async def _follow(websocket: WebSocket, services: Services, subscription: Subscription, job_id: str) -> None:
    view = await _read_view(services, job_id)
    await send_message(websocket, job_message(view, None))
    told = _told(view.status, view.queue_position, view.progress)
    while not view.status.is_terminal:
        event = await subscription.next_event(RESYNC_SECONDS)
        if isinstance(event, JobProgressed):
            await send_message(websocket, progress_message(event))
            told = _told(JobStatus.PROCESSING, None, event.progress)
            continue
        if isinstance(event, JobChanged):
            kind: JobEventKind | None = event.kind
            view = await _view_of(services, event.job)
        else:  # quiet: tell the client only what it does not know yet
            latest = await _read_view(services, job_id)
            if _told(latest.status, latest.queue_position, latest.progress) == told:
                continue
            kind = None if latest.status is told[0] else change_kind(told[0], latest.status)
            view = latest
        await send_message(websocket, job_message(view, kind))
        told = _told(view.status, view.queue_position, view.progress)
        if view.status.is_terminal:
            await _close(websocket)
            return
    # It had ended before we looked: the snapshot says so; the final message follows, as for a live job.
    await send_message(websocket, job_message(view, change_kind(None, view.status)))
    await _close(websocket)


async def _read_view(services: Services, job_id: str) -> JobView:
    return await _view_of(services, await run_in_threadpool(services.jobs.get, job_id))


async def _view_of(services: Services, job: Job) -> JobView:
    positions = await run_in_threadpool(services.jobs.queue_positions, [job])
    return job_view(job, positions.get(job.id), retention_hours=services.settings.retention_hours)


def close_reason(text: str) -> str:
    """A close frame's reason is at most 123 bytes."""
    encoded = text.encode()
    return text if len(encoded) <= 123 else encoded[:120].decode(errors="ignore") + "..."


class _StoppedReading(Exception):
    """A message to the client could not leave within SEND_TIMEOUT_SECONDS."""


async def while_connected(websocket: WebSocket, caller: Caller, follow: Coroutine[Any, Any, None]) -> None:
    """Run `follow` until it ends, the client leaves, or the caller's key or session ends (then close the
    socket, saying why). A quiet job's watcher may be sent nothing for long stretches, so only reading
    notices that it has gone; without this its handler would poll forever."""
    async with _credential_watch(websocket).watching(caller) as credentials_ended:
        following = asyncio.ensure_future(follow)
        listening = asyncio.ensure_future(_until_disconnected(websocket))
        ends: set[asyncio.Future[Any]] = {following, listening, credentials_ended}
        try:
            await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
        finally:
            listening.cancel()
            following.cancel()  # no-op once it has ended
            await asyncio.wait({following, listening})
        if not following.cancelled():
            following.result()  # its error, if it had one
        elif credentials_ended.done():
            await _close(websocket, WsCloseCode.NOT_AUTHORISED, credentials_ended.result())


def _credential_watch(websocket: WebSocket) -> CredentialWatch:
    """The app's one watch, made by its first socket (on the event loop, so no two are made)."""
    state = websocket.app.state
    watch: CredentialWatch | None = getattr(state, "credential_watch", None)
    if watch is None:
        services: Services = state.services
        watch = state.credential_watch = CredentialWatch(services.access, services.settings.resolved_database_url)
    return watch


async def _until_disconnected(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass  # watchers have nothing to say; what they send anyway is dropped


async def send_message(websocket: WebSocket, message: BaseModel) -> None:
    await send_text(websocket, message.model_dump_json())


async def send_text(websocket: WebSocket, text: str) -> None:
    """Send a message already in JSON (one made once for many watchers)."""
    try:
        await asyncio.wait_for(websocket.send_text(text), SEND_TIMEOUT_SECONDS)
    except TimeoutError:
        raise _StoppedReading from None


async def _close(websocket: WebSocket, code: WsCloseCode = WsCloseCode.NORMAL, reason: str | None = None) -> None:
    try:  # the close frame waits behind what is still unsent, like any message
        await asyncio.wait_for(websocket.close(code=code, reason=close_reason(reason or "")), SEND_TIMEOUT_SECONDS)
    except TimeoutError:
        raise _StoppedReading from None
