"""A small Python client for a running Qwen Image Editor server (httpx; sync and async).

    from qwen_image_editor.client import Client
    with Client("http://127.0.0.1:8002", key=None) as client:
        job = client.edit(["a.png"], "make the sky stormy", seed=42)
        for message in job.progress():      # the job's WebSocket messages, until it ends
            print(message["type"], (message.get("progress") or {}).get("progress"))
        job.download("stormy.png")

`AsyncClient` has the same methods, awaited (`async for message in job.progress()`). Every refusal raises
`ServerError` with the server's status and message (an oversized upload: 413 and what the limit is).
It talks to the server over HTTP only and imports nothing of the server but the job states' names
(`jobs.states`, plain Python).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from qwen_image_editor.jobs.states import TERMINAL_STATES

FINAL_STATES = TERMINAL_STATES  # the job states after which nothing changes (the server's own vocabulary)
ImageSource = str | Path | bytes


class ServerError(Exception):
    """The server refused or failed a request; `status` is the HTTP status, the message the server's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message


def _check(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json() if response.headers.get("content-type", "").startswith("application/json") else None
    try:
        body = response.json()
        message = body.get("detail") or body.get("error", {}).get("message") or response.text
    except ValueError:
        message = response.text or response.reason_phrase
    raise ServerError(response.status_code, str(message))


def _headers(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _edit_form(
    images: Sequence[ImageSource], prompt: str, options: dict[str, Any], mask: ImageSource | None = None
) -> tuple[list[Any], dict[str, str]]:
    # How many images the server's model takes is its to say (`/api/limits`; a 422 names the limit): none with a
    # model that makes images from text alone, up to 10 for Qwen-Image-2.1.
    config = {"prompt": prompt, **{name: value for name, value in options.items() if value is not None}}
    files = []
    for part, image in [*((f"image{n}", image) for n, image in enumerate(images, start=1)), ("mask", mask)]:
        if image is None:
            continue
        data = image if isinstance(image, bytes) else Path(image).read_bytes()
        name = f"{part}.png" if isinstance(image, bytes) else Path(image).name
        files.append((part, (name, data)))
    return files, {"config": json.dumps(config)}


def _ws_url(server: str, job_id: str) -> str:
    return server.replace("https://", "wss://", 1).replace("http://", "ws://", 1).rstrip("/") + f"/ws/{job_id}"


def result_path(path: Path, index: int, count: int) -> Path:
    """`out.png` for the first result, `out_2.png` ... for the others."""
    return path if index == 1 else path.with_name(f"{path.stem}_{index}{path.suffix}")


class Job:
    """A job on the server: its last known view (`view`), and what can be done with it."""

    def __init__(self, client: Client, view: dict[str, Any]) -> None:
        self.client, self.view = client, view

    @property
    def id(self) -> str:
        return str(self.view["job_id"])

    @property
    def status(self) -> str:
        return str(self.view["status"])

    def refresh(self) -> dict[str, Any]:
        self.view = _check(self.client.http.get(f"/api/jobs/{self.id}"))
        return self.view

    def wait(self, timeout: float | None = None, poll_seconds: float = 0.5) -> dict[str, Any]:
        """Poll until the job ends; TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.refresh()["status"] not in FINAL_STATES:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {self.id} is still {self.status} after {timeout:g} seconds")
            time.sleep(poll_seconds)
        return self.view

    def progress(self) -> Iterator[dict[str, Any]]:
        """The job's WebSocket messages (snapshot, progress, status, and the final one), until it ends."""
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        headers = _headers(self.client.key)
        with connect(_ws_url(self.client.server, self.id), additional_headers=headers, open_timeout=10) as socket:
            try:
                for raw in socket:
                    message: dict[str, Any] = json.loads(raw)
                    if message.get("type") != "progress":
                        self.view = {k: v for k, v in message.items() if k not in ("type", "event")}
                    yield message
            except ConnectionClosed:
                pass

    def download(self, path: str | Path, index: int = 1) -> Path:
        """Write result number `index` to `path`; returns it."""
        response = self.client.http.get(f"/api/jobs/{self.id}/download", params={"index": index})
        _check(response)
        target = Path(path)
        target.write_bytes(response.content)
        return target

    def download_all(self, path: str | Path) -> list[Path]:
        count = len(self.view.get("outputs") or []) or 1
        return [self.download(result_path(Path(path), index, count), index) for index in range(1, count + 1)]

    def cancel(self) -> dict[str, Any]:
        self.view = _check(self.client.http.post(f"/api/jobs/{self.id}/cancel"))
        return self.view


class Client:
    """The server at `server` (e.g. http://127.0.0.1:8002), with an API key when it needs one."""

    def __init__(self, server: str, key: str | None = None, *, timeout: float = 60.0) -> None:
        self.server, self.key = server.rstrip("/"), key
        self.http = httpx.Client(base_url=self.server, headers=_headers(key), timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def edit(
        self, images: Sequence[ImageSource], prompt: str, *, mask: ImageSource | None = None, **options: Any
    ) -> Job:
        """Queue an edit; `options` are the edit request's fields (seed, num_inference_steps, num_images,
        true_cfg_scale, negative_prompt, output_format, lightning, loras, webhook_url, mask_grow, ...). `mask`:
        where to edit image 1 (white = edit); outside it, the result is image 1's pixels exactly."""
        files, data = _edit_form(images, prompt, options, mask)
        return Job(self, _check(self.http.post("/api/edit", files=files, data=data)))

    def job(self, job_id: str) -> Job:
        return Job(self, _check(self.http.get(f"/api/jobs/{job_id}")))

    def jobs(self, *, limit: int = 50, offset: int = 0, status: str | None = None) -> list[Job]:
        params: dict[str, Any] = {"limit": limit, "offset": offset, **({"status": status} if status else {})}
        return [Job(self, view) for view in _check(self.http.get("/api/jobs", params=params))["jobs"]]


class AsyncJob:
    """`Job`, awaited."""

    def __init__(self, client: AsyncClient, view: dict[str, Any]) -> None:
        self.client, self.view = client, view

    @property
    def id(self) -> str:
        return str(self.view["job_id"])

    @property
    def status(self) -> str:
        return str(self.view["status"])

    async def refresh(self) -> dict[str, Any]:
        self.view = _check(await self.client.http.get(f"/api/jobs/{self.id}"))
        return self.view

    async def wait(self, timeout: float | None = None, poll_seconds: float = 0.5) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (await self.refresh())["status"] not in FINAL_STATES:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {self.id} is still {self.status} after {timeout:g} seconds")
            await asyncio.sleep(poll_seconds)
        return self.view

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        headers = _headers(self.client.key)
        async with connect(_ws_url(self.client.server, self.id), additional_headers=headers) as socket:
            try:
                async for raw in socket:
                    message: dict[str, Any] = json.loads(raw)
                    if message.get("type") != "progress":
                        self.view = {k: v for k, v in message.items() if k not in ("type", "event")}
                    yield message
            except ConnectionClosed:
                pass

    async def download(self, path: str | Path, index: int = 1) -> Path:
        response = await self.client.http.get(f"/api/jobs/{self.id}/download", params={"index": index})
        _check(response)
        target = Path(path)
        target.write_bytes(response.content)
        return target

    async def cancel(self) -> dict[str, Any]:
        self.view = _check(await self.client.http.post(f"/api/jobs/{self.id}/cancel"))
        return self.view


class AsyncClient:
    """`Client`, on httpx.AsyncClient."""

    def __init__(self, server: str, key: str | None = None, *, timeout: float = 60.0) -> None:
        self.server, self.key = server.rstrip("/"), key
        self.http = httpx.AsyncClient(base_url=self.server, headers=_headers(key), timeout=timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def edit(
        self, images: Sequence[ImageSource], prompt: str, *, mask: ImageSource | None = None, **options: Any
    ) -> AsyncJob:
        files, data = _edit_form(images, prompt, options, mask)
        return AsyncJob(self, _check(await self.http.post("/api/edit", files=files, data=data)))

    async def job(self, job_id: str) -> AsyncJob:
        return AsyncJob(self, _check(await self.http.get(f"/api/jobs/{job_id}")))

    async def jobs(self, *, limit: int = 50, offset: int = 0, status: str | None = None) -> list[AsyncJob]:
        params: dict[str, Any] = {"limit": limit, "offset": offset, **({"status": status} if status else {})}
        return [AsyncJob(self, view) for view in _check(await self.http.get("/api/jobs", params=params))["jobs"]]
