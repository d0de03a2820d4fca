from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qwen_image_editor.engine.capabilities import capabilities_of
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_services
from qwen_image_editor.settings import Settings
from tests.conftest import noise_image
from tests.live_server import LiveServer, live_server

# The fake engine's results in API tests: small, so they stay fast (the default is a realistic ~1 MP).
SMALL_OUTPUT_PIXELS = 64 * 64
# How long a test waits for something that is bound to happen (a job ending, a message, a socket closing)
# before it fails: long enough for a loaded machine, and it costs nothing when things work.
PATIENCE = 30.0


def png_bytes(width: int = 64, height: int = 48, seed: int = 0, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    noise_image(width, height, seed).save(buffer, format=image_format)
    return buffer.getvalue()


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "data_dir": data_dir,
        "model": "fake",
        "poll_seconds": 0.02,
        "heartbeat_seconds": 0.2,
        "lease_seconds": 5,
        "max_upload_bytes": 2 * 1024 * 1024,
        "max_image_bytes": 1024 * 1024,
        "max_image_pixels": 4_000_000,
        "retention_hours": 0,
        "fake_output_pixels": SMALL_OUTPUT_PIXELS,
    }
    fields.update(overrides)
    return Settings(**fields)


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine(step_seconds=0.02, output_pixels=SMALL_OUTPUT_PIXELS)


@pytest.fixture
def server(tmp_path: Path, fake_engine: FakeEngine) -> Iterator[LiveServer]:
    services = build_services(make_settings(tmp_path), engine=fake_engine)
    with live_server(services) as running:
        yield running


def model_server(tmp_path: Path, model: str) -> Iterator[LiveServer]:
    """A live server whose fake engine stands in for `model`'s family (`fake`: 2511, `fake-2.1`: Qwen-Image-2.1)."""
    settings = make_settings(tmp_path / model, model=model)  # two servers in one test share no database
    engine = FakeEngine(
        step_seconds=0.0, output_pixels=SMALL_OUTPUT_PIXELS, capabilities=capabilities_of(model, settings.models_dir)
    )
    with live_server(build_services(settings, engine=engine)) as server:
        yield server


@pytest.fixture
def edit_2511(tmp_path: Path) -> Iterator[LiveServer]:
    yield from model_server(tmp_path, "fake")


@pytest.fixture
def image_21(tmp_path: Path) -> Iterator[LiveServer]:
    yield from model_server(tmp_path, "fake-2.1")


def submit(http: httpx.Client, images: list[bytes] | None = None, **config: Any) -> httpx.Response:
    images = images if images is not None else [png_bytes(seed=1), png_bytes(seed=2)]
    files = {f"image{i}": (f"in{i}.png", data, "image/png") for i, data in enumerate(images, start=1)}
    config.setdefault("prompt", "make the sky stormy")
    config.setdefault("num_inference_steps", 5)
    return http.post("/api/edit", files=files, data={"config": json.dumps(config)})


def eventually(check: Callable[[], bool], what: str, timeout: float = PATIENCE) -> None:
    """Wait until `check()` holds; fail saying `what` did not happen if it still does not after `timeout`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.01)


def wait_for(http: httpx.Client, job_id: str, statuses: set[str], timeout: float = PATIENCE) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = http.get(f"/api/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not reach {statuses}; last: {job}")


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start a live server with these settings (fake engine); stopped at the end of the test."""
    stack: list[Any] = []

    def started(engine: FakeEngine | None = None, **overrides: Any) -> LiveServer:
        services = build_services(
            make_settings(tmp_path, **overrides), engine=engine or FakeEngine(0.02, output_pixels=SMALL_OUTPUT_PIXELS)
        )
        running = live_server(services)
        stack.append(running)
        return running.__enter__()

    yield started
    for running in reversed(stack):
        running.__exit__(None, None, None)
