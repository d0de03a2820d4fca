"""`make bench`: what the service costs around the model. A measurement, not a test.

First the worker's pipeline in one process (`benchmarks.pipeline`): the GPU-busy fraction over 20 short jobs,
submit-to-start on an idle worker, and the cost of live previews on the tiny model at ~1 MP. Then the GPU-busy
fraction as a user sees it, over HTTP (`benchmarks.busy_over_http`), and what encoding a result costs per
megapixel (`benchmarks.encoding`). Then:
(a) N jobs through HTTP against N direct engine calls (ratio of total times);
(b) from one queued job's finish to the next one's start (negative once they overlap);
(c) status reads per second and their p99 latency while a job runs;
(d) server memory (RSS) before and after 100 jobs;
and, first, the engine alone: one 4-step tiny edit at 256² and at ~1 MP.
Each against a real `qie serve` subprocess on a free port, with the fake engine (fixed time per step) and
with the tiny random-weight diffusers model.
"""

from __future__ import annotations

import io
import itertools
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from benchmarks import busy_over_http, encoding, pipeline
from benchmarks.engine_speed import engine_timings
from benchmarks.serving import qie_serve
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.factory import build_engine
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.settings import Settings

FAKE_STEP_SECONDS = 0.05
STEPS = 4
console = Console(width=220)


def image(seed: int, size: int = 256) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))


def png(seed: int) -> bytes:
    buffer = io.BytesIO()
    image(seed).save(buffer, format="PNG")
    return buffer.getvalue()


@contextmanager
def server(model: str, data_dir: Path) -> Iterator[tuple[httpx.Client, int]]:
    env = {
        "QIE_MODEL": model,
        "QIE_FAKE_STEP_SECONDS": str(FAKE_STEP_SECONDS),
        "QIE_POLL_SECONDS": "0.05",
        "QIE_MAX_QUEUE": "1000",
    }
    with qie_serve(data_dir, env) as (process, _, client):
        yield client, process.pid


def submit(client: httpx.Client, seed: int, steps: int = STEPS) -> str:
    config = {"prompt": "make the sky stormy", "num_inference_steps": steps, "seed": seed}
    files = {"image1": ("a.png", png(seed), "image/png")}
    response = client.post("/api/edit", files=files, data={"config": json.dumps(config)})
    response.raise_for_status()
    return str(response.json()["job_id"])


def wait_all(client: httpx.Client, ids: list[str]) -> list[dict[str, object]]:
    while True:
        jobs = [client.get(f"/api/jobs/{job_id}").json() for job_id in ids]
        if all(job["status"] in ("complete", "error", "cancelled") for job in jobs):
            return jobs
        time.sleep(0.05)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def direct_seconds(model: str, count: int) -> float:
    with tempfile.TemporaryDirectory() as data_dir:
        engine = (
            FakeEngine(FAKE_STEP_SECONDS)
            if model == "fake"
            else build_engine(Settings(model=model, data_dir=Path(data_dir)))
        )
        engine.load()
        started = time.perf_counter()
        for n in range(count):
            engine.edit([image(n)], EditRequest(prompt="make the sky stormy", num_inference_steps=STEPS, seed=n))
        return time.perf_counter() - started


def through_http(client: httpx.Client, count: int) -> tuple[float, list[float]]:
    submit(client, 10_000)  # warm-up: loads the model, as the first job after start always does
    wait_all(client, [submit(client, 10_001)])
    started = time.perf_counter()
    ids = [submit(client, n) for n in range(count)]
    jobs = wait_all(client, ids)
    total = time.perf_counter() - started
    times = sorted(
        (datetime.fromisoformat(str(j["started_at"])), datetime.fromisoformat(str(j["finished_at"]))) for j in jobs
    )
    gaps = [(nxt[0] - cur[1]).total_seconds() for cur, nxt in itertools.pairwise(times)]
    return total, gaps


def status_reads(client: httpx.Client, seconds: float = 3.0) -> tuple[float, float]:
    job_id = submit(client, 20_000, steps=150)
    while client.get(f"/api/jobs/{job_id}").json()["status"] != "processing":
        time.sleep(0.02)
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def reader() -> None:
        with httpx.Client(base_url=str(client.base_url)) as own:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                own.get(f"/api/jobs/{job_id}").raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.post(f"/api/jobs/{job_id}/cancel")
    wait_all(client, [job_id])
    return len(latencies) / seconds, float(np.percentile(latencies, 99) * 1000)


def memory_after(client: httpx.Client, pid: int, count: int) -> tuple[float, float]:
    before = rss_mib(pid)
    ids = [submit(client, 30_000 + n) for n in range(count)]
    wait_all(client, ids)
    return before, rss_mib(pid)


def measure(model: str, jobs: int, memory_jobs: int) -> dict[str, str]:
    direct = direct_seconds(model, jobs)
    with tempfile.TemporaryDirectory() as data_dir, server(model, Path(data_dir)) as (client, pid):
        http_total, gaps = through_http(client, jobs)
        reads_per_second, p99_ms = status_reads(client)
        before, after = memory_after(client, pid, memory_jobs)
    return {
        "model": model,
        "jobs": str(jobs),
        "direct (s)": f"{direct:.2f}",
        "HTTP (s)": f"{http_total:.2f}",
        "HTTP / direct": f"{http_total / direct:.3f}",
        # Negative: the next job started before the previous one was finished (its saving overlapped it).
        "next start - previous finish (ms, median / max)": (
            f"{statistics.median(gaps) * 1000:.0f} / {max(gaps) * 1000:.0f}"
        ),
        "status reads/s while running": f"{reads_per_second:.0f}",
        "status p99 (ms)": f"{p99_ms:.1f}",
        "RSS before / after N jobs (MiB)": f"{before:.0f} / {after:.0f} (N={memory_jobs})",
    }


def main() -> None:
    stages = pipeline.measure()
    stages_table = Table(title="The worker's pipeline (one process; fake engine with photo-like ~1 MP results)")
    for column in stages:
        stages_table.add_column(column)
    stages_table.add_row(*stages.values())
    console.print(stages_table)

    encoding_table = Table(title="Encoding a result on one core (photo-like; best of 3)")
    for column in ("what", "ms per MP", "KiB"):
        encoding_table.add_column(column)
    for encoded in encoding.measure():
        encoding_table.add_row(encoded.what, f"{encoded.ms_per_mp:.0f}", f"{encoded.kib:.0f}")
    console.print(encoding_table)

    busy_table = Table(
        title=f"GPU busy as a user sees it: {busy_over_http.JOBS} jobs submitted over HTTP to `qie serve` while its "
        "worker runs (fake engine, ~1 MP photo inputs), from the first job's start to the last one's finish"
    )
    for column in ("steps, results", "GPU busy", "span (s)", "finish stage (ms per MP)"):
        busy_table.add_column(column)
    for case in busy_over_http.CASES:
        outcome = busy_over_http.measure(case)
        finish = "n/a" if outcome.finish_ms_per_mp is None else f"{outcome.finish_ms_per_mp:.0f}"
        busy_table.add_row(case.label, f"{outcome.busy_fraction:.3f}", f"{outcome.span_seconds:.2f}", finish)
    console.print(busy_table)

    engine_table = Table(
        title="Engine on the tiny model (EditPlus `tiny`, Edit `tiny-edit`), one 256x256 input, best of 2"
    )
    for column in ("model", "what", "seconds"):
        engine_table.add_column(column)
    for timing in engine_timings([image(1)]):
        engine_table.add_row(*timing)
    console.print(engine_table)

    rows = [measure("fake", jobs=20, memory_jobs=100), measure("tiny", jobs=4, memory_jobs=10)]
    table = Table(title=f"qie bench ({STEPS} steps per job, 256x256 inputs, fake engine {FAKE_STEP_SECONDS}s/step)")
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*row.values())
    console.print(table)


if __name__ == "__main__":
    main()
