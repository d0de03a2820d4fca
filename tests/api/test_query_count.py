"""The history is read in a constant number of queries, however many of its jobs are queued."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from qwen_image_editor.api.app import create_app
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.jobs.ids import new_job_id
from qwen_image_editor.services import Services, build_services
from tests.api.conftest import make_settings


@contextmanager
def counting_queries() -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        # The service's own background threads (the start-up sweep, the webhook sender) run meanwhile, each on
        # a `qie-` thread; their queries are not the listing's.
        if threading.current_thread().name.startswith("qie-"):
            return
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def fill(services: Services, *, finished: int, queued: int) -> None:
    store = services.store
    for _ in range(finished):
        store.create_job(new_job_id(), EditRequest(prompt="done already", seed=1), 1)
        claimed = store.claim_next_job("worker-a", 30)
        assert claimed is not None
        store.complete_job(claimed.id, "worker-a", ["output_1.png"])
    for _ in range(queued):
        store.create_job(new_job_id(), EditRequest(prompt="waiting", seed=1), 1)


def list_queries(tmp_path: Path, *, finished: int, queued: int) -> tuple[int, dict[str, object]]:
    services = build_services(make_settings(tmp_path, worker_enabled=False))
    fill(services, finished=finished, queued=queued)
    with (
        TestClient(create_app(services=services), base_url="http://localhost") as client,
        counting_queries() as statements,
    ):
        body = client.get("/api/jobs", params={"limit": 200}).json()
    return len(statements), body


def test_listing_200_jobs_100_queued_runs_a_constant_number_of_queries(tmp_path: Path) -> None:
    many, body = list_queries(tmp_path / "many", finished=100, queued=100)
    few, _ = list_queries(tmp_path / "few", finished=198, queued=2)
    assert body["total"] == 200 and len(body["jobs"]) == 200
    positions = [job["queue_position"] for job in body["jobs"] if job["status"] == "queued"]
    assert positions == list(range(100, 0, -1))  # newest first: the last queued waits longest
    # whether any API key exists (the access check), the page, its total, and every queue position at once
    assert many == few <= 4
