"""The simulated GPU's busy share as a user sees it: jobs submitted over HTTP to a real `qie serve` process while
its worker runs, timed from the first job's start to the last job's finish (both as the server recorded them).

The busy time is what the fake engine holds its simulated GPU for: steps x seconds per step, per job. Whatever
else lies in the span (claiming, decoding inputs, encoding and storing results, recording) is CPU work that
the GPU waited on. Run alone: `python -m benchmarks.busy_over_http`.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from benchmarks.serving import qie_serve
from qwen_image_editor.engine.fake import model_size, photo_like

JOBS, STEPS = 12, 4
INPUT_SIZE = (1184, 888)  # ~1 MP, a photo's aspect


@dataclass(frozen=True)
class Case:
    step_seconds: float
    result_pixels: int

    @property
    def label(self) -> str:
        return f"{STEPS} x {self.step_seconds:g} s, {self.result_pixels / 2**20:g} MP results"


# The measure (a 4-step edit at 0.25 s per step) and a few-step edit on a fast card at 2 MP.
CASES = (Case(0.25, 1024 * 1024), Case(0.1, 2 * 1024 * 1024))


@dataclass(frozen=True)
class Outcome:
    case: Case
    busy_fraction: float
    span_seconds: float
    finish_ms_per_mp: float | None  # the worker's finish stage (encode, thumbnail, store) per result megapixel


def _photo_png(seed: int) -> bytes:
    buffer = io.BytesIO()
    photo_like(INPUT_SIZE, seed).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _finish_ms_per_mp(metrics: str, megapixels: float) -> float | None:
    """The worker's mean finish stage from a /metrics page, per megapixel of result, in ms (None if absent).
    From the stage histogram, which older versions have too, so that before and after compare."""
    values: dict[str, float] = {}
    for line in metrics.splitlines():
        for name in ("_sum", "_count"):
            if line.startswith(f'qie_worker_stage_duration_seconds{name}{{stage="finish"}} '):
                values[name] = float(line.split()[-1])
    if not values.get("_count"):
        return None
    return 1000 * values["_sum"] / values["_count"] / megapixels


def measure(case: Case) -> Outcome:
    uploads = [_photo_png(n) for n in range(JOBS)]
    env = {
        "QIE_MODEL": "fake",
        "QIE_FAKE_STEP_SECONDS": str(case.step_seconds),
        "QIE_FAKE_OUTPUT_PIXELS": str(case.result_pixels),
        "QIE_MAX_QUEUE": "1000",
    }
    with tempfile.TemporaryDirectory() as data_dir, qie_serve(Path(data_dir), env) as (_, _, client):

        def submit(seed: int) -> str:
            config = {"prompt": "make the sky stormy", "num_inference_steps": STEPS, "seed": seed}
            files = {"image1": ("photo.png", uploads[seed % JOBS], "image/png")}
            response = client.post("/api/edit", files=files, data={"config": json.dumps(config)})
            response.raise_for_status()
            return str(response.json()["job_id"])

        _wait(client, [submit(10_000)])  # loads the model, as the first job after a start always does
        # Submitted while the worker runs, as people do: the first job starts at once and the rest arrive over
        # HTTP (each upload decoded by the server) while it and the others run.
        ids = [submit(n) for n in range(JOBS)]
        jobs = _wait(client, ids)
        width, height = model_size(INPUT_SIZE[0] / INPUT_SIZE[1], case.result_pixels)
        finish = _finish_ms_per_mp(client.get("/metrics").text, width * height / 1e6)
    started = min(datetime.fromisoformat(str(job["started_at"])) for job in jobs)
    finished = max(datetime.fromisoformat(str(job["finished_at"])) for job in jobs)
    span = (finished - started).total_seconds()
    return Outcome(case, JOBS * STEPS * case.step_seconds / span, span, finish)


def _wait(client: httpx.Client, ids: list[str], timeout: float = 600) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = [client.get(f"/api/jobs/{job_id}").json() for job_id in ids]
        if all(job["status"] in ("complete", "error", "cancelled") for job in jobs):
            failed = [job for job in jobs if job["status"] != "complete"]
            if failed:
                raise RuntimeError(f"{len(failed)} jobs did not complete: {failed[0]}")
            return jobs
        time.sleep(0.05)
    raise TimeoutError("the jobs did not finish")


def main() -> None:
    for case in CASES:
        outcome = measure(case)
        finish = "n/a" if outcome.finish_ms_per_mp is None else f"{outcome.finish_ms_per_mp:.0f} ms/MP"
        print(f"{case.label}: GPU busy {outcome.busy_fraction:.3f} of {outcome.span_seconds:.2f} s; finish {finish}")


if __name__ == "__main__":
    main()
