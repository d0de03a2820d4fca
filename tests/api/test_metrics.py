"""`/metrics` after real jobs, and `/api/health/ready` with the database or the job files broken."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_services
from tests.api.conftest import eventually, make_settings, submit, wait_for
from tests.api.test_access import keyed_server
from tests.live_server import LiveServer, live_server


def scrape(http: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_metrics_count_a_finished_job_its_durations_and_the_queue(server: LiveServer) -> None:
    job = submit(server.http, num_inference_steps=4).json()
    wait_for(server.http, job["job_id"], {"complete"})
    # The API may see the job complete a moment before the worker counts it.
    finished = ("qie_worker_stage_duration_seconds_count", frozenset({("stage", "finish")}))
    eventually(lambda: finished in scrape(server.http), "the worker's count of the finished job")
    samples = scrape(server.http)

    assert value(samples, "qie_jobs_finished_total", status="complete") == 1
    assert value(samples, "qie_job_duration_seconds_count", status="complete") == 1
    assert value(samples, "qie_job_duration_seconds_sum", status="complete") > 0
    assert value(samples, "qie_job_wait_seconds_count") == 1
    assert value(samples, "qie_denoise_step_duration_seconds_count") == 3  # 4 steps; the first one also encodes
    for stage in ("prepare", "model", "finish"):
        assert value(samples, "qie_worker_stage_duration_seconds_count", stage=stage) == 1
    assert value(samples, "qie_jobs", status="complete") == 1
    assert value(samples, "qie_jobs", status="queued") == 0
    assert value(samples, "qie_queue_depth") == 0
    assert value(samples, "qie_model_state", model="fake", state="ready") == 1
    assert value(samples, "qie_model_state", model="fake", state="loading") == 0
    worker = server.services.worker.worker_id
    assert value(samples, "qie_worker_last_heartbeat_timestamp_seconds", worker=worker) > 0


def test_queue_depth_is_read_from_the_store_at_scrape_time(tmp_path: Path, fake_engine: FakeEngine) -> None:
    services = build_services(make_settings(tmp_path, worker_enabled=False), engine=fake_engine)
    with live_server(services) as running:
        for _ in range(3):
            assert submit(running.http).status_code == 202
        samples = scrape(running.http)
    assert value(samples, "qie_queue_depth") == 3
    assert value(samples, "qie_jobs", status="queued") == 3
    assert value(samples, "qie_model_state", model="fake", state="not_loaded") == 1
    assert ("qie_jobs_finished_total", frozenset({("status", "complete")})) not in samples


def test_ready_answers_200_when_the_database_and_the_files_are_reachable(server: LiveServer) -> None:
    response = server.http.get("/api/health/ready")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "problems": []}


def test_ready_answers_503_when_the_job_files_cannot_be_written(server: LiveServer) -> None:
    shutil.rmtree(server.services.blobs.root)  # type: ignore[attr-defined]
    response = server.http.get("/api/health/ready")
    assert response.status_code == 503
    assert response.json()["ready"] is False
    assert response.json()["problems"] == ["job files cannot be written in the data directory (FileNotFoundError)"]


def test_ready_answers_503_when_the_database_is_unreachable(tmp_path: Path, fake_engine: FakeEngine) -> None:
    database = tmp_path / "db" / "qie.db"
    database.parent.mkdir()
    services = build_services(
        make_settings(tmp_path, worker_enabled=False, database_url=f"sqlite:///{database}"), engine=fake_engine
    )
    with live_server(services) as running:
        assert running.http.get("/api/health/ready").status_code == 200
        services.store.close()
        shutil.rmtree(database.parent)  # a fresh connection finds no folder to open the database in
        response = running.http.get("/api/health/ready")
        assert response.status_code == 503
        [problem] = response.json()["problems"]
        assert problem.startswith("the database is unreachable (")
        assert running.http.get("/metrics").status_code == 200  # a scrape still answers, without the job counts


def test_metrics_take_any_key_when_keys_are_required_and_ready_takes_none(tmp_path: Path) -> None:
    servers = keyed_server(tmp_path)
    keyed = next(servers)
    with contextlib.closing(servers), keyed.client(None) as anonymous, keyed.client(keyed.alice) as alice:
        assert anonymous.get("/metrics").status_code == 401
        assert alice.get("/metrics").status_code == 200
        assert anonymous.get("/api/health/ready").status_code == 200
