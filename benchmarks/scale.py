"""`make bench-scale`: many GPU workers behind two API nodes, on PostgreSQL. A measurement, not a test.

The topology of deploy/compose.yaml, as processes on this machine: two `qie serve --no-worker` API nodes and
N `qie worker` processes on the fake engine (it holds a simulated GPU for a fixed time per step and returns
a ~1 MP photo-like result, so encoding and storing costs what it costs with the real model), sharing one
fresh PostgreSQL database and one job-file store (a folder, or with `--s3` a moto S3 server). A client
submits every job at once, alternating between the nodes, and watches each on the other node's WebSocket,
as a browser would.

(a) Throughput with 1, 2 and 4 workers (jobs = 8 per worker): finished jobs per second, from the first
    submit to the last final message. Goal: N workers give at least 0.9 x N x one worker's.
(b) Step latency across processes: for every denoising-step message a watcher receives, the time since the
    worker stamped that progress (just before recording it). Goal: every step arrives, p99 at most 100 ms.
(c) SIGKILL one of four workers mid-run (60 jobs): every job completes, none is lost, and none ran on two
    workers at once (from the workers' own logs: each claim until its end, or until the kill).

Exits 1 when a goal is missed. Needs PostgreSQL (default: postgres@127.0.0.1:5432; QIE_BENCH_POSTGRES_URL).
To measure another version, put its source first on PYTHONPATH (the processes inherit it), e.g.
    git worktree add --detach /tmp/before <commit>
    PYTHONPATH=/tmp/before/src .venv/bin/python -m benchmarks.scale --no-kill
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import websockets
from PIL import Image
from rich.console import Console
from rich.table import Table

from benchmarks.scale_topology import STEP_SECONDS, Topology, topology, workers

console = Console(width=200)
STEPS = 8  # a Lightning edit
JOBS_PER_WORKER = 8
KILL_RUN_JOBS = 60
KILL_AFTER_COMPLETED = 15
# "2026-12-01 11:03:42,123 INFO qwen_image_editor.jobs: job <id> started: queued -> processing (attempt 1,
# worker w, 0.1s)", as JobLifecycle logs every change
_LIFECYCLE_LINE = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO qwen_image_editor\.jobs: job (?P<job>\S+) (?P<kind>\w+): "
    r".*\(attempt (?P<attempt>\d+), worker (?P<worker>[^,]+), "
)


@dataclass
class Watched:
    """What one watcher saw of one job."""

    job_id: str
    final: str | None = None
    ended_at: float = 0.0
    step_latencies: list[float] = field(default_factory=list)


def photo(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:480, 0:640]
    base = np.stack([x / 640 * 200, y / 480 * 180, (x + y) / 1120 * 220], axis=-1)
    noisy = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, format="PNG")
    return buffer.getvalue()


# -- the client -----------------------------------------------------------------------------------------
async def watch(node: str, job_id: str, seen: Watched) -> None:
    async with websockets.connect(f"ws{node.removeprefix('http')}/ws/{job_id}", open_timeout=30) as socket:
        async for raw in socket:
            message = json.loads(raw)
            received = time.time()
            if message["type"] == "progress" and message["progress"]["stage"] == "denoising":
                stamped = datetime.fromisoformat(message["progress"]["updated_at"]).timestamp()
                seen.step_latencies.append(received - stamped)
            elif message["type"] in ("complete", "error", "cancelled"):
                seen.final, seen.ended_at = message["type"], received


async def submit_and_watch(world: Topology, count: int, seen: list[Watched]) -> list[Watched]:
    """Submit `count` jobs (alternating nodes, a few at a time), each watched on the other node; what the
    watchers see goes into `seen` as it arrives."""
    clients = [httpx.AsyncClient(base_url=node, timeout=60) for node in world.nodes]
    images = [photo(seed) for seed in range(4)]
    watchers: list[asyncio.Task[None]] = []
    uploads = asyncio.Semaphore(4)

    async def one(index: int) -> None:
        config = {"prompt": f"make the sky stormy {index}", "num_inference_steps": STEPS, "seed": index}
        async with uploads:
            response = await clients[index % 2].post(
                "/api/edit",
                files={"image1": ("photo.png", images[index % len(images)], "image/png")},
                data={"config": json.dumps(config)},
            )
        response.raise_for_status()
        watched = Watched(response.json()["job_id"])
        seen.append(watched)
        watchers.append(asyncio.create_task(watch(world.nodes[(index + 1) % 2], watched.job_id, watched)))

    try:
        await asyncio.gather(*(one(index) for index in range(count)))
        await asyncio.gather(*watchers)
    finally:
        for client in clients:
            await client.aclose()
    return seen


async def kill_one_mid_run(world: Topology, processes: list[subprocess.Popen[bytes]]) -> tuple[list[Watched], float]:
    """Submit the kill run's jobs; SIGKILL the first worker once KILL_AFTER_COMPLETED have completed."""
    seen: list[Watched] = []
    run = asyncio.create_task(submit_and_watch(world, KILL_RUN_JOBS, seen))
    while sum(watched.final == "complete" for watched in seen) < KILL_AFTER_COMPLETED:
        await asyncio.sleep(0.02)
    processes[0].send_signal(signal.SIGKILL)
    killed_at = time.time()
    return await run, killed_at


# -- what the logs say ----------------------------------------------------------------------------------
def claims(logs: list[Path], killed_log: Path, killed_at: float) -> dict[str, list[tuple[float, float, str]]]:
    """Per job, each (from, until, worker) that a worker held it: from its claim to the end it recorded, or
    to the kill for the worker that was killed while it held the job."""
    held: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for log in logs:
        open_claims: dict[str, tuple[float, str]] = {}
        for line in log.read_text().splitlines():
            found = _LIFECYCLE_LINE.match(line)
            if not found:
                continue
            at = datetime.strptime(found["at"], "%Y-%m-%d %H:%M:%S,%f").astimezone(UTC).timestamp()
            if found["kind"] == "started":
                open_claims[found["job"]] = (at, found["worker"])
            elif found["job"] in open_claims and found["kind"] in ("complete", "error", "cancelled", "requeued"):
                start, worker = open_claims.pop(found["job"])
                held[found["job"]].append((start, at, worker))
        for job_id, (start, worker) in open_claims.items():
            if log != killed_log:
                raise AssertionError(f"{log.name}: job {job_id} claimed and never ended by a worker that lived")
            held[job_id].append((start, killed_at, worker))
    return held


def overlaps(held: dict[str, list[tuple[float, float, str]]]) -> list[str]:
    problems = []
    for job_id, spans in held.items():
        spans.sort()
        for (_, until, first), (start, _, second) in itertools.pairwise(spans):
            if start < until:
                problems.append(f"job {job_id}: {second} claimed it {until - start:.2f}s before {first} let go")
    return problems


# -- the run --------------------------------------------------------------------------------------------
def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:  # no step arrived at all (a version without events across processes)
        return float("nan")
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure_throughput(world: Topology, counts: list[int], failures: list[str]) -> tuple[dict[int, float], list[float]]:
    """(a) and (b): seconds for 8 jobs per worker, for each worker count; every step latency seen."""
    seconds: dict[int, float] = {}
    latencies: list[float] = []
    for count in counts:
        console.print(f"(a) {count} worker(s), {JOBS_PER_WORKER * count} jobs ...")
        with workers(world, count, f"run{count}"):
            started = time.time()
            seen = asyncio.run(submit_and_watch(world, JOBS_PER_WORKER * count, []))
        if incomplete := [w.job_id for w in seen if w.final != "complete"]:
            failures.append(f"{count} workers: {len(incomplete)} jobs did not complete")
        seconds[count] = max(w.ended_at for w in seen) - started
        latencies += [latency for w in seen for latency in w.step_latencies]
    return seconds, latencies


def measure_kill(world: Topology, failures: list[str]) -> dict[str, int]:
    """(c): four workers, one SIGKILLed mid-run; what became of every job, from the API and the workers' logs."""
    console.print(f"(c) 4 workers, {KILL_RUN_JOBS} jobs, one SIGKILLed after {KILL_AFTER_COMPLETED} complete ...")
    with workers(world, 4, "kill") as processes:
        seen, killed_at = asyncio.run(kill_one_mid_run(world, processes))
    with httpx.Client(base_url=world.nodes[1], timeout=30) as http:
        stored = [http.get(f"/api/jobs/{w.job_id}").json() for w in seen]
        downloads = [http.get(f"/api/jobs/{w.job_id}/download").status_code for w in seen]
    held = claims(sorted(world.logs.glob("kill-*.log")), world.logs / "kill-1.log", killed_at)
    double = overlaps(held)
    kill = {
        "jobs": len(seen),
        "complete": sum(job["status"] == "complete" for job in stored),
        "downloadable": downloads.count(200),
        "held_by_the_killed_worker": sum(any(span[1] == killed_at for span in spans) for spans in held.values()),
        "ran_again": sum(job["attempts"] > 1 for job in stored),
        "on_two_workers_at_once": len(double),
    }
    failures += double
    if kill["complete"] != KILL_RUN_JOBS or kill["downloadable"] != KILL_RUN_JOBS:
        failures.append(
            f"kill run: {kill['complete']} of {KILL_RUN_JOBS} complete, {kill['downloadable']} downloadable"
        )
    if not kill["held_by_the_killed_worker"]:
        failures.append("kill run: the killed worker held no job when it died (the run proves nothing)")
    return kill


def report(blobs: str, seconds: dict[int, float], latencies: list[float], failures: list[str]) -> dict[str, object]:
    table = Table(
        title=f"qie bench-scale: 2 API nodes, fake-GPU workers ({STEPS} steps x {STEP_SECONDS}s), job files in {blobs}"
    )
    for column in ("workers", "jobs", "seconds", "jobs/s", "vs N x one", "goal >= 0.9"):
        table.add_column(column, justify="right")
    one = JOBS_PER_WORKER / seconds[1] if 1 in seconds else None
    for count, taken in seconds.items():
        rate = JOBS_PER_WORKER * count / taken
        ratio = None if one is None else rate / (count * one)
        if ratio is not None and ratio < 0.9:
            failures.append(f"{count} workers: {ratio:.2f} x N x one worker's throughput")
        shown = "-" if ratio is None else f"{ratio:.2f}"
        met = "-" if ratio is None else "yes" if ratio >= 0.9 else "NO"
        table.add_row(str(count), str(JOBS_PER_WORKER * count), f"{taken:.1f}", f"{rate:.3f}", shown, met)
    console.print(table)
    p50, p99, worst = (percentile(latencies, share) * 1000 for share in (0.5, 0.99, 1.0))
    # Every denoising step but the last, which is reported as decoding, of every job.
    expected = sum(JOBS_PER_WORKER * count for count in seconds) * (STEPS - 1)
    console.print(
        f"(b) step latency, worker stamps a step -> a watcher on another API node has it: {len(latencies)} of "
        f"{expected} steps seen, p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms "
        "(goal: every step, p99 <= 100 ms)"
    )
    if not p99 <= 100:  # NaN too
        failures.append(f"step latency p99 {p99:.1f} ms > 100 ms")
    if len(latencies) < expected:
        failures.append(f"watchers saw {len(latencies)} of {expected} steps")
    return {
        "throughput": {str(count): {"jobs": JOBS_PER_WORKER * count, "seconds": s} for count, s in seconds.items()},
        "step_latency_ms": {"seen": len(latencies), "expected": expected, "p50": p50, "p99": p99, "max": worst},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--s3", action="store_true", help="keep job files in a moto S3 server, not a folder")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="worker counts for (a)")
    parser.add_argument("--no-kill", action="store_true", help="skip (c), the SIGKILL run")
    parser.add_argument("--save", type=Path, help="write the numbers as JSON here")
    parser.add_argument("--keep", type=Path, help="run in this (new) folder and keep it: the logs, the job files")
    options = parser.parse_args()
    # Stopped from outside (a time-out, Ctrl+C): still stop every process and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    failures: list[str] = []
    blobs = "a moto S3 bucket" if options.s3 else "a folder"
    with ExitStack() as stack:
        if options.keep:
            options.keep.mkdir(parents=True)
            root = options.keep
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qie-bench-scale-")))
        world = stack.enter_context(topology(root, options.s3))
        seconds, latencies = measure_throughput(world, options.workers, failures)
        kill = None if options.no_kill else measure_kill(world, failures)
    results = {"blobs": blobs, **report(blobs, seconds, latencies, failures), "kill_run": kill}
    if kill is not None:
        console.print(f"(c) SIGKILL run: {kill}")
    if options.save:
        options.save.write_text(json.dumps(results, indent=2))
    for failure in failures:
        console.print(f"[bold red]missed:[/] {failure}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
