"""A full disk is a clear state (GUARANTEES.md, "Full disk"): the running job ends as `error` with the reason,
writes answer 507 saying to free space, reads keep working, readiness names the disk, and all recovers once
space is freed. The disk is filled without root: job file writes get ENOSPC, the SQLite database's writes get
SQLite's own "database or disk is full", and the free space reads 0."""

from __future__ import annotations

import errno
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from qwen_image_editor.blobs import local
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_services
from tests.api.conftest import PATIENCE, SMALL_OUTPUT_PIXELS, make_settings, submit, wait_for
from tests.live_server import LiveServer, live_server

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class FullDisk:
    """Fills and frees a pretend disk under the data directory; notes when a job's failure could not be recorded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store_engine: Any) -> None:
        self.full = False
        self.failure_refused = threading.Event()
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
                raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(local, "write_atomic", write_atomic)
        monkeypatch.setattr(shutil, "disk_usage", disk_usage)
        event.listen(store_engine, "do_execute", do_execute)


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(step_seconds=0, output_pixels=SMALL_OUTPUT_PIXELS)


@pytest.fixture
def disk_server(
    tmp_path: Path, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LiveServer, FullDisk]]:
    # A long lease: however long the disk stays full here, the job stays its worker's (no requeue races the test).
    services = build_services(make_settings(tmp_path, lease_seconds=600, heartbeat_seconds=1), engine=engine)
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
