"""A real uvicorn server on a free port, in a thread of the test process, for API and browser tests."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from qwen_image_editor.api.app import create_app
from qwen_image_editor.api.serving import uvicorn_options
from qwen_image_editor.services import Services


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    ws_url: str
    services: Services
    http: httpx.Client


class _QuickToStopServer(uvicorn.Server):
    """uvicorn looks for a stop request every 0.1 s; a test server that looks every 10 ms stops sooner, which
    over a few hundred tests is several seconds of the fast lane."""

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            await asyncio.sleep(0.01)


@contextmanager
def live_server(services: Services, **uvicorn_overrides: Any) -> Iterator[LiveServer]:
    """`uvicorn_overrides` replace options of `uvicorn_options` (e.g. shorter WebSocket pings)."""
    port = free_port()
    options = {**uvicorn_options(services.settings), **uvicorn_overrides}
    config = uvicorn.Config(create_app(services=services), host="127.0.0.1", port=port, log_level="warning", **options)
    server = _QuickToStopServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=30) as http:
        try:
            yield LiveServer(url, f"ws://127.0.0.1:{port}", services, http)
        finally:
            server.should_exit = True
            thread.join(15)
