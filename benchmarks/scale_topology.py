"""`make bench-scale`'s processes: two `qie serve --no-worker` API nodes and N `qie worker` processes on the fake
engine, sharing one fresh PostgreSQL database and one job-file store (a folder, or a moto S3 server)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

from benchmarks.serving import free_port, qie_serve

ADMIN_URL = os.environ.get("QIE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
STEP_SECONDS = 0.25  # of simulated GPU time: 2 s for a job of 8 steps (scale.STEPS)
LEASE_SECONDS = 6.0  # short, so the killed worker's jobs return to the queue within the run
WORKER_ENV = {
    "QIE_MODEL": "fake",
    "QIE_FAKE_STEP_SECONDS": str(STEP_SECONDS),
    "QIE_LEASE_SECONDS": str(LEASE_SECONDS),
    "QIE_HEARTBEAT_SECONDS": "1",
}


@dataclass
class Topology:
    data_dir: Path
    env: dict[str, str]
    nodes: list[str]  # base URLs of the API nodes
    logs: Path


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
