"""Many workers, one PostgreSQL: an API process queues, two `qie worker` processes share the work."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from websockets.sync.client import connect

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.services import build_services
from tests.api.conftest import SMALL_OUTPUT_PIXELS, make_settings, submit
from tests.conftest import noise_image
from tests.live_server import free_port
from tests.s3_server import S3Server, s3_process_env
from tests.store.conftest import postgres_unreachable
from tests.test_crash_recovery import PATIENCE, server_process

pytestmark = pytest.mark.process

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def database_url() -> Iterator[str]:
    if problem := postgres_unreachable():
        pytest.skip(problem)
    name = f"qie_scale_{uuid.uuid4().hex[:12]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _worker_ids(outputs: list[str]) -> list[str]:
    return [output.split("Worker ", 1)[1].split()[0] for output in outputs]


def test_two_worker_processes_share_the_queue_and_run_each_job_once(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "shared"
    services = build_services(
        make_settings(data_dir, database_url=database_url, worker_enabled=False),
        engine=FakeEngine(output_pixels=SMALL_OUTPUT_PIXELS),
    )
    ids = []
    for n in range(12):
        upload = io.BytesIO()
        noise_image(32, 32, n).save(upload, format="PNG")
        upload.seek(0)
        ids.append(services.jobs.submit([upload], EditRequest(prompt=f"job {n}", num_inference_steps=3)).id)

    qie = Path(sys.executable).parent / "qie"
    # A lease no stall of a loaded machine outlasts: a job run twice could then only be a claim taken twice.
    env = {**os.environ, "QIE_MODEL": "fake", "QIE_FAKE_STEP_SECONDS": "0.02", "QIE_LEASE_SECONDS": "600"}
    command = [qie, "worker", "--burst", "--data-dir", str(data_dir), "--database", database_url]
    workers = [
        subprocess.Popen([*command], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=PATIENCE)[0].decode() for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), outputs

    jobs = [services.store.get_job(job_id) for job_id in ids]
    assert all(job.status is JobStatus.COMPLETE for job in jobs)
    assert all(job.attempts == 1 for job in jobs)  # nobody ran a job twice
    ran = [int(output.split("Ran ")[1].split()[0]) for output in outputs]
    assert sum(ran) == 12
    assert {job.claimed_by for job in jobs} <= {f"{worker}" for worker in _worker_ids(outputs)}
    services.close()


def test_an_idle_worker_process_is_woken_by_the_database_when_a_job_is_queued(
    tmp_path: Path, database_url: str
) -> None:
    """The worker polls only once an hour here: only PostgreSQL's NOTIFY can start the job during the test."""
    data_dir = tmp_path / "shared"
    services = build_services(
        make_settings(data_dir, database_url=database_url, worker_enabled=False),
        engine=FakeEngine(output_pixels=SMALL_OUTPUT_PIXELS),
    )
    qie = Path(sys.executable).parent / "qie"
    env = {**os.environ, "QIE_MODEL": "fake", "QIE_FAKE_STEP_SECONDS": "0.01", "QIE_POLL_SECONDS": "3600"}
    worker = subprocess.Popen(
        [qie, "worker", "--data-dir", str(data_dir), "--database", database_url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert worker.stdout is not None
        for line in worker.stdout:  # it has looked once, found nothing, and waits
            if "Waiting for jobs" in line:
                break
        upload = io.BytesIO()
        noise_image(32, 32).save(upload, format="PNG")
        upload.seek(0)
        job = services.jobs.submit([upload], EditRequest(prompt="now", num_inference_steps=2))
        deadline = time.monotonic() + PATIENCE
        while not services.store.get_job(job.id).status.is_terminal and time.monotonic() < deadline:
            time.sleep(0.02)
        assert services.store.get_job(job.id).status is JobStatus.COMPLETE
    finally:
        worker.terminate()
        worker.wait(PATIENCE)
        services.close()


def test_a_watcher_on_an_api_node_sees_every_step_of_a_job_a_worker_process_runs(
    tmp_path: Path, database_url: str
) -> None:
    """The API node runs no worker; the job's steps reach its watcher only through PostgreSQL (re-reading the
    job, every 2 s without news, would show one or two of the twelve)."""
    data_dir, port = tmp_path / "shared", free_port()
    env = {"QIE_DATABASE_URL": database_url, "QIE_FAKE_OUTPUT_PIXELS": str(SMALL_OUTPUT_PIXELS)}
    qie = Path(sys.executable).parent / "qie"
    hold = tmp_path / "hold"  # the job takes no step until its watcher is there, however slow the machine
    hold.touch()
    worker = subprocess.Popen(
        [qie, "worker", "--data-dir", str(data_dir)],
        env={
            **os.environ,
            **env,
            "QIE_MODEL": "fake",
            "QIE_FAKE_STEP_SECONDS": "0.1",
            "QIE_FAKE_HOLD_FILE": str(hold),
            "QIE_HEARTBEAT_SECONDS": "0.5",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with (
            server_process(data_dir, port, "--no-worker", env=env),
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=PATIENCE) as http,
        ):
            assert http.get("/api/health").json()["worker_alive"] is False
            # The page's activity feed (`/ws`, every job) too, open before the job exists.
            with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=PATIENCE) as activity:
                json.loads(activity.recv(timeout=PATIENCE))  # the active jobs: none yet
                job_id = submit(http, num_inference_steps=12).json()["job_id"]
                with connect(f"ws://127.0.0.1:{port}/ws/{job_id}", open_timeout=PATIENCE) as watcher:
                    messages = [json.loads(watcher.recv(timeout=PATIENCE))]  # the job as it is: the watcher is there
                    hold.unlink()
                    messages += [json.loads(message) for message in watcher]
                feed = [json.loads(activity.recv(timeout=PATIENCE))]
                while feed[-1].get("type") != "complete":
                    feed.append(json.loads(activity.recv(timeout=PATIENCE)))
            # The page's header on this node: the worker's model, loaded by the job it ran.
            deadline = time.monotonic() + PATIENCE
            while (health := http.get("/api/health").json())["model_state"] != "ready":
                assert time.monotonic() < deadline, health
                time.sleep(0.1)
            assert health["workers"] == 1 and health["model"] == "fake" and health["warning"] is None
    finally:
        worker.terminate()
        worker.wait(PATIENCE)
    steps = [m["progress"]["step"] for m in messages if m["type"] == "progress" and m["progress"]["step"]]
    assert steps == list(range(1, 13)), steps  # every step, each once, in order
    assert messages[-1]["type"] == "complete" and messages[-1]["event"] == "complete"
    heard = [m["progress"]["step"] for m in feed if m.get("type") == "progress" and m["progress"]["step"]]
    assert heard == list(range(1, 13)), heard
    assert feed[-1]["job_id"] == job_id


def test_an_api_node_and_a_worker_on_other_machines_share_only_postgresql_and_the_bucket(
    tmp_path: Path, database_url: str, s3_server: S3Server, s3_bucket: str
) -> None:
    """Separate data directories, as on two machines: the inputs reach the worker and the result reaches the
    API node through the bucket alone, and the steps through PostgreSQL."""
    env = s3_process_env(
        QIE_DATABASE_URL=database_url,
        QIE_BLOBS=f"s3://{s3_bucket}/jobs",
        QIE_S3_ENDPOINT_URL=s3_server.endpoint_url,
        QIE_FAKE_OUTPUT_PIXELS=str(SMALL_OUTPUT_PIXELS),
    )
    qie, port = Path(sys.executable).parent / "qie", free_port()
    hold = tmp_path / "hold"  # the job takes no step until its watcher is there, however slow the machine
    hold.touch()
    worker = subprocess.Popen(
        [qie, "worker", "--data-dir", str(tmp_path / "gpu-machine")],
        env={**env, "QIE_MODEL": "fake", "QIE_FAKE_STEP_SECONDS": "0.05", "QIE_FAKE_HOLD_FILE": str(hold)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with (
            server_process(tmp_path / "api-machine", port, "--no-worker", environ=env),
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=PATIENCE) as http,
        ):
            job_id = submit(http, num_inference_steps=6).json()["job_id"]
            with connect(f"ws://127.0.0.1:{port}/ws/{job_id}", open_timeout=PATIENCE) as watcher:
                messages = [json.loads(watcher.recv(timeout=PATIENCE))]  # the job as it is: the watcher is there
                hold.unlink()
                messages += [json.loads(message) for message in watcher]
            download = http.get(f"/api/jobs/{job_id}/download")
    finally:
        worker.terminate()
        worker.wait(PATIENCE)
    assert messages[-1]["type"] == "complete", messages[-1]
    steps = [m["progress"]["step"] for m in messages if m["type"] == "progress" and m["progress"]["step"]]
    assert steps == list(range(1, 7)), steps  # every step, through PostgreSQL
    stored = s3_server.objects(s3_bucket, f"jobs/{job_id}/")
    assert download.status_code == 200 and download.content == stored[f"jobs/{job_id}/output_1.png"]
    assert not list((tmp_path / "gpu-machine").glob("jobs/*")) and not list((tmp_path / "api-machine").glob("jobs/*"))
