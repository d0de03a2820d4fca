"""`/ws`: everything the page's queue strip and header need, live: the caller's queued and running jobs,
the queue's length, and each change to them, so nothing has to poll. The active jobs are read once per change
for every watcher of the process (`api/activity_feed.py`), so watchers cost no queries of their own."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from qwen_image_editor.accounts import Caller
from qwen_image_editor.api.activity_feed import ActiveJobs, ActivityFeed, Watcher
from qwen_image_editor.api.routes.ws import close_reason, send_message, send_text, while_connected
from qwen_image_editor.api.schemas import WsCloseCode
from qwen_image_editor.api.views import job_message, job_view, progress_message
from qwen_image_editor.events.base import RESYNC_SECONDS  # without events this long, tell the state again
from qwen_image_editor.services import Services

router = APIRouter()


@router.websocket("/ws")
async def watch_activity(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    await websocket.accept()
    caller: Caller | None = websocket.scope["state"].get("caller")  # set by the access middleware
    if caller is None:
        refused = websocket.scope["state"].get("refused", "not authorised")
        await websocket.close(code=WsCloseCode.NOT_AUTHORISED, reason=close_reason(refused))
        return
    try:
        async with _feed(websocket, services).watch() as (watcher, active):
            await while_connected(websocket, caller, _follow(websocket, services, caller, watcher, active))
    except (WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
        return


def _feed(websocket: WebSocket, services: Services) -> ActivityFeed:
    """The app's one feed, made by its first watcher (on the event loop, so no two are made)."""
    state = websocket.app.state
    feed: ActivityFeed | None = getattr(state, "activity_feed", None)
    if feed is None:
        feed = state.activity_feed = ActivityFeed(services, RESYNC_SECONDS)
    return feed


async def _follow(
    websocket: WebSocket, services: Services, caller: Caller, watcher: Watcher, active: ActiveJobs
) -> None:
    await send_text(websocket, active.message_for(caller.sees))
    mine = active.ids_for(caller.sees)
    while True:
        update = await watcher.next_update()
        if update.progressed is not None:
            if update.progressed.job_id in mine:
                await send_message(websocket, progress_message(update.progressed))
            continue
        changed = update.changed
        if changed is not None and (caller.sees is None or caller.sees == changed.job.owner):
            view = job_view(changed.job, None, retention_hours=services.settings.retention_hours)
            await send_message(websocket, job_message(view, changed.kind))
        if update.active is not None:
            await send_text(websocket, update.active.message_for(caller.sees))
            mine = update.active.ids_for(caller.sees)
