"""No request waits on a job or on a slow store (issue 19, point 7): DELETE of a running job answers at once,
a hung store costs a file request a bounded wait then 503, and /api/health answers while every request thread
is taken. Each proof holds the slow thing at a gate and shows the request answered while it is still held."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import pytest

from qwen_image_editor.application.blob_reads import BlobReads
from qwen_image_editor.blobs.base import StoredFile
from qwen_image_editor.blobs.local import LocalBlobStore
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.jobs.records import Job
from qwen_image_editor.services import Services, build_services
from qwen_image_editor.store.sql import SqlJobStore
from tests.api.conftest import PATIENCE, eventually, make_settings, submit, wait_for
from tests.live_server import LiveServer, live_server


class _StopsAtAGate(SqlJobStore):
    """A store whose worker cannot record that its job stopped until the test lets it: the job is running,
    cancelled and deleted, for as long as the test likes (cancelling does not open this gate)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.let_go = threading.Event()

    def mark_cancelled(self, job_id: str, worker_id: str) -> Job:
        self.let_go.wait(4 * PATIENCE)
        return super().mark_cancelled(job_id, worker_id)


class _HungBlobs(LocalBlobStore):
    """A store that hangs on every read until the test releases it; counts the reads waiting in it."""

    def __init__(self, jobs_dir: Path) -> None:
        super().__init__(jobs_dir)
        self.release = threading.Event()
        self.waiting = 0
        self._lock = threading.Lock()

    def _hang(self) -> None:
        with self._lock:
            self.waiting += 1
        try:
            self.release.wait(8 * PATIENCE)
        finally:
            with self._lock:
                self.waiting -= 1

    def open_file(self, job_id: str, name: str) -> StoredFile:
        self._hang()
        return super().open_file(job_id, name)

    def read_bytes(self, job_id: str, name: str) -> bytes:
        self._hang()
        return super().read_bytes(job_id, name)

    def presigned_url(self, job_id: str, name: str, *, download_name: str | None = None) -> str | None:
        self._hang()
        return super().presigned_url(job_id, name, download_name=download_name)


@pytest.fixture
def gated(tmp_path: Path, fake_engine: FakeEngine) -> Iterator[tuple[LiveServer, _StopsAtAGate]]:
    settings = make_settings(tmp_path)
    store = _StopsAtAGate(settings.resolved_database_url)
    services = build_services(settings, engine=fake_engine, store=store)
    try:
        with live_server(services) as running:
            yield running, store
    finally:
        store.let_go.set()


def test_delete_of_a_running_job_answers_before_the_job_stops(
    gated: tuple[LiveServer, _StopsAtAGate], fake_engine: FakeEngine
) -> None:
    server, store = gated
    gate = fake_engine.hold()
    job_id = submit(server.http, num_inference_steps=50).json()["job_id"]
    gate.wait_held()
    deleted = server.http.delete(f"/api/jobs/{job_id}")  # answered while the worker cannot stop the job
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["job_id"] == job_id and "cancelled" in deleted.json()["message"]
    view = server.http.get(f"/api/jobs/{job_id}").json()
    assert view["status"] == "processing" and view["deleting"] is True  # still held: going once it stops
    listed = server.http.get("/api/jobs").json()
    assert listed["total"] == 0 and listed["jobs"] == []  # gone from the history at once
    folder = server.services.settings.jobs_dir / job_id
    assert folder.is_dir()
    store.let_go.set()
    eventually(lambda: server.http.get(f"/api/jobs/{job_id}").status_code == 404, "the job gone once it stopped")
    eventually(lambda: not folder.exists(), "its files gone once it stopped")
    fine = submit(server.http).json()["job_id"]  # the worker goes on with the next job
    gate.open()
    wait_for(server.http, fine, {"complete"})


def test_a_job_that_ends_before_the_delete_reaches_it_is_deleted_at_once(server: LiveServer) -> None:
    job_id = submit(server.http).json()["job_id"]
    wait_for(server.http, job_id, {"complete"})
    deleted = server.http.delete(f"/api/jobs/{job_id}")
    assert deleted.json()["message"] == f"Job {job_id} deleted (it was complete)"
    assert server.http.get(f"/api/jobs/{job_id}").status_code == 404


def _hang_reads(services: Services, *, threads: int, wait_seconds: float) -> _HungBlobs:
    """Every read of a job file for a request now goes to a store that hangs (`release` ends it)."""
    hung = _HungBlobs(services.settings.jobs_dir)
    services.blobs = hung  # what a route would read if it went to the store directly
    services.jobs.reads = BlobReads(hung, max_threads=threads, wait_seconds=wait_seconds)
    return hung


def test_a_hung_store_gets_503_with_retry_after_not_a_request_held_for_good(server: LiveServer) -> None:
    job_id = submit(server.http).json()["job_id"]
    wait_for(server.http, job_id, {"complete"})
    hung = _hang_reads(server.services, threads=2, wait_seconds=0.2)
    try:
        for path in ("files/output_1.png", "download", "download.zip"):
            answer = server.http.get(f"/api/jobs/{job_id}/{path}")
            assert answer.status_code == 503, (path, answer.status_code)
            assert answer.headers["Retry-After"].isdigit()
            assert "did not answer" in answer.json()["detail"]
        assert not hung.release.is_set()  # answered while the store still hangs
    finally:
        hung.release.set()
    eventually(lambda: server.http.get(f"/api/jobs/{job_id}/files/output_1.png").status_code == 200, "reads again")


def _request_threads() -> int:
    """How many requests the server runs in threads at once (anyio's default limiter: 40 unless changed)."""

    async def tokens() -> int:
        return int(anyio.to_thread.current_default_thread_limiter().total_tokens)

    return asyncio.run(tokens())


def test_reads_waiting_on_a_hung_store_hold_no_request_thread(server: LiveServer) -> None:
    job_id = submit(server.http).json()["job_id"]
    wait_for(server.http, job_id, {"complete"})
    other = submit(server.http).json()["job_id"]
    wait_for(server.http, other, {"complete"})
    threads = _request_threads()
    # more reads held in the store than the server has request threads: a read that held one would take them all
    hung = _hang_reads(server.services, threads=threads + 16, wait_seconds=8 * PATIENCE)
    readers = threads + 8
    results: list[Any] = []

    def read() -> None:
        with httpx.Client(base_url=server.url, timeout=10 * PATIENCE) as http:
            results.append(http.get(f"/api/jobs/{job_id}/files/output_1.png").status_code)

    with ThreadPoolExecutor(readers) as pool:
        try:
            for _ in range(readers):
                pool.submit(read)
            eventually(lambda: hung.waiting >= readers, f"{readers} reads held in the store")
            # routes that run on request threads still have them: health, a job's view, a delete
            health = server.http.get("/api/health", timeout=PATIENCE)
            assert health.status_code == 200 and health.json()["version"]
            assert server.http.get(f"/api/jobs/{job_id}", timeout=PATIENCE).json()["status"] == "complete"
            assert server.http.delete(f"/api/jobs/{other}", timeout=PATIENCE).status_code == 200
            assert hung.waiting >= readers and not results  # answered while every read is still held
        finally:
            hung.release.set()
    assert results == [200] * readers


class _HungRemovals(LocalBlobStore):
    """A store whose removals hang until the test releases them."""

    def __init__(self, jobs_dir: Path) -> None:
        super().__init__(jobs_dir)
        self.release = threading.Event()

    def delete_job_files(self, job_id: str) -> int:
        self.release.wait(8 * PATIENCE)
        return super().delete_job_files(job_id)


def test_a_delete_is_answered_though_the_store_hangs_removing_the_files(server: LiveServer) -> None:
    job_id = submit(server.http).json()["job_id"]
    wait_for(server.http, job_id, {"complete"})
    hung = _HungRemovals(server.services.settings.jobs_dir)
    server.services.jobs.reads = BlobReads(hung, max_threads=2, wait_seconds=PATIENCE, removal_wait_seconds=0.1)
    folder = server.services.settings.jobs_dir / job_id
    try:
        deleted = server.http.delete(f"/api/jobs/{job_id}", timeout=PATIENCE)
        assert deleted.status_code == 200, deleted.text  # the record is gone: so is the job
        assert server.http.get(f"/api/jobs/{job_id}").status_code == 404
        assert folder.is_dir() and not hung.release.is_set()  # answered while the removal still hangs
    finally:
        hung.release.set()
    eventually(lambda: not folder.exists(), "the files removed once the store answered")
