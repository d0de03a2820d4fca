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
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import psycopg
import websockets
from PIL import Image
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from benchmarks.serving import free_port, qie_serve

console = Console(width=200)
ADMIN_URL = os.environ.get("QIE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
STEPS = 8  # a Lightning edit
STEP_SECONDS = 0.25  # of simulated GPU time: 2 s a job
JOBS_PER_WORKER = 8
KILL_RUN_JOBS = 60
KILL_AFTER_COMPLETED = 15
LEASE_SECONDS = 6.0  # short, so the killed worker's jobs return to the queue within the run
WORKER_ENV = {
    "QIE_MODEL": "fake",
    "QIE_FAKE_STEP_SECONDS": str(STEP_SECONDS),
    "QIE_LEASE_SECONDS": str(LEASE_SECONDS),
    "QIE_HEARTBEAT_SECONDS": "1",
}
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


@dataclass
class Topology:
    data_dir: Path
    env: dict[str, str]
    nodes: list[str]  # base URLs of the API nodes
    logs: Path


def photo(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:480, 0:640]
    base = np.stack([x / 640 * 200, y / 480 * 180, (x + y) / 1120 * 220], axis=-1)
    noisy = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, format="PNG")
    return buffer.getvalue()


# -- the processes --------------------------------------------------------------------------------------
@contextmanager
def fresh_database() -> Iterator[str]:
    name = f"qie_bench_scale_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(ADMIN_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(False)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [Path(sys.executable).parent / "moto_server", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        httpx.put(f"{url}/bench-scale", timeout=10).raise_for_status()  # the bucket
        yield url
    finally:
        process.terminate()
        process.wait(15)


@contextmanager
def topology(root: Path, use_s3: bool) -> Iterator[Topology]:
    with ExitStack() as stack:
        database = stack.enter_context(fresh_database())
        env = {
            "QIE_DATABASE_URL": database,
            "QIE_MODEL": "fake",
            "QIE_RETENTION_HOURS": "0",
            "QIE_MAX_QUEUE": "1000",
        }
        if use_s3:
            env |= {
                "QIE_BLOBS": "s3://bench-scale/jobs",
                "QIE_S3_ENDPOINT_URL": stack.enter_context(moto_server()),
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        data_dir, logs = root / "data", root / "logs"
        logs.mkdir()
        nodes = []
        for index in range(2):
            output = stack.enter_context(open(logs / f"api-{index + 1}.log", "wb"))
            # QIE_WORKER_ENABLED=0 is `--no-worker`, as a setting: an older version without the flag runs too.
            api_env = {**env, "QIE_WORKER_ENABLED": "0"}
            _, port, _ = stack.enter_context(qie_serve(data_dir, api_env, output=output))
            nodes.append(f"http://127.0.0.1:{port}")
        yield Topology(data_dir, env, nodes, logs)


@contextmanager
def workers(world: Topology, count: int, label: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` worker processes, each logging to `<label>-<n>.log`, once every one waits for jobs."""
    qie = Path(sys.executable).parent / "qie"
    processes, logs = [], []
    for index in range(count):
        log = world.logs / f"{label}-{index + 1}.log"
        logs.append(log)
        processes.append(
            subprocess.Popen(
                [qie, "worker", "--data-dir", str(world.data_dir)],
                env={**os.environ, **world.env, **WORKER_ENV},
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
    try:
        deadline = time.monotonic() + 60
        while not all("Waiting for jobs" in log.read_text() for log in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError(f"a worker did not start; see {world.logs}")
            time.sleep(0.1)
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(60)


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
