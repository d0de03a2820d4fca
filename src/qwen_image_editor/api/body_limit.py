"""Caps request bodies while they are read (chunked ones too), so an oversized upload costs at most the cap;
answers 408 to a body that stops arriving, or that is not all there by an overall deadline however steadily
it drips, so a stalled or trickling client holds neither its connection nor its memory for long; and makes a
client that leaves mid-upload one INFO line instead of an error with a traceback.

An oversized body is read on and thrown away (up to `drain_bytes`, under the same stall timeout) before the
413 goes out: a client still sending when the server answers and closes sees a broken connection instead of
the answer (httpx.AsyncClient does), so it would never learn why. Nothing past the cap is kept."""

from __future__ import annotations

import asyncio
import json
import logging

from fastapi import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qwen_image_editor.api.errors import error_body

log = logging.getLogger(__name__)


class BodyLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        timeout_seconds: float = 30.0,
        drain_bytes: int | None = None,
        deadline_seconds: float = 120.0,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Beyond this an oversized body is not read on: the answer goes out and the connection closes.
        self.drain_bytes = drain_bytes if drain_bytes is not None else 4 * max_bytes
        # Measured between chunks, not over the whole body: a stall is caught after this long, while a slow
        # but steady upload of a large body (a phone on a weak uplink) is never cut off.
        self.timeout_seconds = timeout_seconds
        # Over the whole body, from the moment its headers were read: a client dripping a byte now and then
        # never trips the stall timer, and would hold its connection as long as it liked.
        self.deadline_seconds = deadline_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = HTTPException(
            status_code=413,
            detail=f"the request body is over the {self.max_bytes // 2**20} MiB limit; send smaller or fewer images",
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            if int(declared) <= self.drain_bytes:
                await self._drain(receive, 0)
            await _send_json(send, 413, too_large.detail, scope["path"])
            return
        stalled = HTTPException(
            status_code=408,
            detail=f"the request body stopped arriving for {self.timeout_seconds:g} seconds; send it again",
            headers={"Connection": "close"},
        )
        too_slow = HTTPException(
            status_code=408,
            detail=f"the request body did not arrive within {self.deadline_seconds:g} seconds; send it again "
            "(on a faster connection, or smaller)",
            headers={"Connection": "close"},
        )
        deadline = asyncio.get_running_loop().time() + self.deadline_seconds
        received = 0
        body_complete = disconnected = False

        async def counting_receive() -> Message:
            nonlocal received, body_complete, disconnected
            if body_complete:  # later reads only listen for a disconnect, e.g. during a long download
                return await receive()
            left = deadline - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(receive(), min(self.timeout_seconds, max(left, 0)))
            except TimeoutError:
                raise (stalled if left > self.timeout_seconds else too_slow) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_complete = not message.get("more_body", False)
                if received > self.max_bytes:
                    if not body_complete:
                        body_complete = await self._drain(receive, received, deadline)
                    raise too_large  # FastAPI passes HTTPException through its body parsing
            elif message["type"] == "http.disconnect":
                disconnected = True
            return message

        try:
            await self.app(scope, counting_receive, send)
        except ClientDisconnect:
            if not disconnected:
                raise
            client = scope.get("client") or ("-", 0)
            log.info(
                "%s:%s left during %s %s after sending %d bytes of the body",
                *client,
                scope["method"],
                scope["path"],
                received,
            )

    async def _drain(self, receive: Receive, received: int, deadline: float | None = None) -> bool:
        """Read and drop the rest of the body, up to `drain_bytes` in all, by the deadline (default: the
        overall deadline from now); True when it all arrived."""
        loop = asyncio.get_running_loop()
        deadline = deadline if deadline is not None else loop.time() + self.deadline_seconds
        while received <= self.drain_bytes:
            left = deadline - loop.time()
            if left <= 0:
                return False
            try:
                message = await asyncio.wait_for(receive(), min(self.timeout_seconds, left))
            except TimeoutError:
                return False
            if message["type"] != "http.request":
                return False
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return True
        return False


async def _send_json(send: Send, status: int, detail: str, path: str) -> None:
    body = json.dumps(error_body(status, detail, path)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
