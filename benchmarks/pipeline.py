"""The worker's pipeline, measured in one process (`make bench` prints these first).

(a) GPU-busy fraction: 20 short jobs queued, then run by the in-process worker on the fake engine (4 steps of
    0.25 s each on a simulated GPU, a photo-like ~1 MP result, ~1 MP photo inputs): the time the GPU was
    busy over the span from its first busy moment to its last. What is left is CPU work on the model's path.
(b) Submit-to-start on an idle worker (default 1 s poll): from the job's insert to its claim, both as the
    store recorded them, each submitted at a random moment of the worker's idle wait.
(c) Preview cost: the tiny model at ~1 MP (4 steps, unpatched), the time spent making previews against
    the time of the steps they came from.
"""

from __future__ import annotations

import io
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.base import StepProgress
from qwen_image_editor.engine.fake import FakeEngine, photo_like
from qwen_image_editor.services import Services, build_services
from qwen_image_editor.settings import Settings

GPU_JOBS, GPU_STEPS, GPU_STEP_SECONDS = 20, 4, 0.25


def _photo_png(seed: int, size: tuple[int, int] = (1280, 800)) -> bytes:
    buffer = io.BytesIO()
    photo_like(size, seed).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _services(data_dir: str, engine: FakeEngine) -> Services:
    settings = Settings(data_dir=Path(data_dir), model="fake", retention_hours=0, max_queue=1000)
    return build_services(settings, engine=engine)


def _wait(services: Services, job_ids: list[str], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while any(not services.store.get_job(job_id).status.is_terminal for job_id in job_ids):
        if time.monotonic() > deadline:
            raise TimeoutError("the jobs did not finish")
        time.sleep(0.02)


def gpu_busy_fraction() -> float:
    with tempfile.TemporaryDirectory() as data_dir:
        engine = FakeEngine(step_seconds=GPU_STEP_SECONDS)
        services = _services(data_dir, engine)
        try:
            request = EditRequest(prompt="make the sky stormy", num_inference_steps=GPU_STEPS, seed=1)
            ids = [services.jobs.submit([io.BytesIO(_photo_png(n))], request).id for n in range(GPU_JOBS)]
            services.start_background()
            _wait(services, ids)
            return engine.gpu.busy_fraction
        finally:
            services.close()


def submit_to_start(samples: int = 10) -> list[float]:
    """Seconds from insert to claim for jobs submitted to an idle worker."""
    with tempfile.TemporaryDirectory() as data_dir:
        services = _services(data_dir, FakeEngine(step_seconds=0.01))
        services.start_background()
        try:
            latencies = []
            upload = _photo_png(0)
            for _ in range(samples + 1):  # the first loads the model; not counted
                time.sleep(random.uniform(0.1, 0.9))  # anywhere in the worker's idle poll
                job = services.jobs.submit([io.BytesIO(upload)], EditRequest(prompt="x", num_inference_steps=2))
                _wait(services, [job.id])
                done = services.store.get_job(job.id)
                assert done.started_at is not None
                latencies.append((done.started_at - done.created_at).total_seconds())
            return latencies[1:]
        finally:
            services.close()


def preview_cost() -> dict[str, float]:
    """Milliseconds per preview and per step, and their ratio, on the tiny model at ~1 MP."""
    from qwen_image_editor.engine import preview
    from qwen_image_editor.engine.factory import build_engine

    spent: list[float] = []
    original = preview.LatentPreviewer.after_step

    def timed(self: preview.LatentPreviewer, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent.append(time.perf_counter() - began)

    with tempfile.TemporaryDirectory() as data_dir:
        engine = build_engine(Settings(model="tiny", data_dir=Path(data_dir)))
        engine.load()
        steps: list[StepProgress] = []
        preview.LatentPreviewer.after_step = timed  # type: ignore[method-assign]
        try:
            image = photo_like((1280, 800), 1)
            engine.edit([image], EditRequest(prompt="x", num_inference_steps=GPU_STEPS, seed=1), on_step=steps.append)
        finally:
            preview.LatentPreviewer.after_step = original  # type: ignore[method-assign]
    made = [seconds for seconds, step in zip(spent, steps, strict=True) if step.preview is not None]
    step_seconds = steps[-1].seconds_per_step or steps[-1].elapsed
    return {
        "previews": len(made),
        "steps": len(steps),
        "ms per preview": statistics.mean(made) * 1000 if made else 0.0,
        "ms per step": step_seconds * 1000,
        "share of step time (%)": 100 * sum(spent) / (step_seconds * len(steps)),
    }


def measure() -> dict[str, str]:
    fraction = gpu_busy_fraction()
    latencies = submit_to_start()
    cost = preview_cost()
    return {
        f"GPU-busy fraction ({GPU_JOBS} jobs, {GPU_STEPS} x {GPU_STEP_SECONDS}s)": f"{fraction:.3f}",
        "idle submit-to-start (ms, median / max)": (
            f"{statistics.median(latencies) * 1000:.0f} / {max(latencies) * 1000:.0f}"
        ),
        "preview cost, tiny ~1 MP (% of step time)": (
            f"{cost['share of step time (%)']:.2f} ({cost['ms per preview']:.1f} ms per preview, "
            f"{cost['ms per step']:.0f} ms per step, {cost['previews']:.0f} of {cost['steps']:.0f} steps)"
        ),
    }
