"""A full disk is a clear state (GUARANTEES.md, "Full disk"): the running job ends as `error` with the reason,
writes answer 507 saying to free space, reads keep working, readiness names the disk, and all recovers once
space is freed. The disk is filled without root: job file writes get ENOSPC, the SQLite database's writes get
SQLite's own "database or disk is full", and the free space reads 0."""

from __future__ import annotations

import errno
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from qwen_image_editor.blobs import local
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.jobs.records import RequeueReason
from qwen_image_editor.services import build_services
from tests.api.conftest import PATIENCE, SMALL_OUTPUT_PIXELS, make_settings, submit, wait_for
from tests.live_server import LiveServer, live_server

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class FullDisk:
    """Fills and frees a pretend disk under the data directory; notes when a job's failure could not be recorded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store_engine: Any) -> None:
        self.full = False
        self.failure_refused = threading.Event()
        self.requeue_refused = threading.Event()  # someone tried to requeue a job whose lease lapsed
        real_write, real_usage = local.write_atomic, shutil.disk_usage

        def write_atomic(path: Path, data: bytes) -> None:
            if self.full:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            real_write(path, data)

        def disk_usage(path: Any) -> Any:
            usage = real_usage(path)
            return usage._replace(free=0) if self.full else usage

        def do_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> None:
            if self.full and statement.lstrip().upper().startswith(_WRITES):
                if any(isinstance(value, str) and "disk" in value and "full" in value for value in parameters or ()):
                    self.failure_refused.set()  # the worker tried to record the job's failure
                if RequeueReason.LEASE_EXPIRED.value in (parameters or ()):
                    self.requeue_refused.set()
                raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(local, "write_atomic", write_atomic)
        monkeypatch.setattr(shutil, "disk_usage", disk_usage)
        event.listen(store_engine, "do_execute", do_execute)


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(step_seconds=0, output_pixels=SMALL_OUTPUT_PIXELS)


@pytest.fixture(params=[600, 1], ids=["long lease", "lease lapses while full"])
def disk_server(
    tmp_path: Path, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[tuple[LiveServer, FullDisk]]:
    # A long lease, and one that lapses while the disk is full (its renewals are refused): either way the job
    # stays its worker's, which records its failure once there is room, instead of requeueing it to run again.
    lease = request.param
    services = build_services(make_settings(tmp_path, lease_seconds=lease, heartbeat_seconds=lease / 5), engine=engine)
    disk = FullDisk(monkeypatch, services.store._engine)  # type: ignore[attr-defined]
    with live_server(services) as running:
        yield running, disk


def test_a_full_disk_fails_the_running_job_answers_507_and_recovers(
    disk_server: tuple[LiveServer, FullDisk], engine: FakeEngine
) -> None:
    server, disk = disk_server
    http = server.http
    kept = submit(http).json()["job_id"]
    assert wait_for(http, kept, {"complete"})["status"] == "complete"
    gate = engine.hold(before_step=1)
    running = submit(http).json()["job_id"]
    gate.wait_held()

    disk.full = True
    gate.open()
    assert disk.failure_refused.wait(PATIENCE), "the worker never tried to record the job's failure"
    recoveries = _recoveries_after(server, _lease_lapsed(server, running))
    assert recoveries.wait(PATIENCE), "the worker never looked for dead workers' jobs once the lease had lapsed"
    # Its worker lives and holds it, its failure waiting for room: it is no dead worker's job to run again.
    assert not disk.requeue_refused.is_set(), "the worker tried to requeue the job it holds"

    # Reads keep working.
    assert http.get(f"/api/jobs/{kept}").json()["status"] == "complete"
    assert http.get("/api/jobs").json()["total"] == 2
    assert http.get(f"/api/jobs/{kept}/download").status_code == 200
    # Writes are refused with 507, saying what to do.
    for response in (http.put(f"/api/jobs/{kept}/star"), http.delete(f"/api/jobs/{kept}"), submit(http)):
        assert response.status_code == 507, response.text
        assert "disk is full" in response.json()["detail"] and "free" in response.json()["detail"]
    ready = http.get("/api/health/ready")
    assert ready.status_code == 503
    assert any("disk of the data directory is full" in problem for problem in ready.json()["problems"])

    disk.full = False
    failed = wait_for(http, running, {"complete", "error", "cancelled"})
    assert failed["status"] == "error", failed
    assert "disk" in failed["error"] and "full" in failed["error"]
    assert failed["attempts"] == 1  # failed with its reason, not requeued to meet the same full disk
    assert http.get("/api/health/ready").status_code == 200
    assert http.put(f"/api/jobs/{kept}/star").json()["starred"] is True
    assert http.delete(f"/api/jobs/{kept}").status_code == 200
    after = submit(http).json()["job_id"]
    assert wait_for(http, after, {"complete", "error"})["status"] == "complete"


def _lease_lapsed(server: LiveServer, job_id: str) -> float:
    """Wait until the job's recorded lease has lapsed (at once with a long one: it has not); when it was seen."""
    store = server.services.store
    deadline = time.monotonic() + PATIENCE
    while (lease := store.get_job(job_id).lease_expires_at) is not None and lease > datetime.now(UTC):
        if lease - datetime.now(UTC) > timedelta(seconds=PATIENCE):
            break  # a long lease: it will not lapse in this test
        assert time.monotonic() < deadline, "the lease was renewed on a full disk"
        time.sleep(0.05)
    return time.monotonic()


def _recoveries_after(server: LiveServer, since: float) -> threading.Event:
    """Set once the worker has ended a look for dead workers' jobs that began after `since`."""
    lifecycle = server.services.worker.lifecycle
    real, looked = lifecycle.recover_expired_leases, threading.Event()

    def recover(*args: Any, **kwargs: Any) -> Any:
        began = time.monotonic()
        try:
            return real(*args, **kwargs)
        finally:
            if began > since:
                looked.set()

    lifecycle.recover_expired_leases = recover  # type: ignore[method-assign]
    return looked
