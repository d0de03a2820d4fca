"""`WS /ws` reads the active jobs once per change for every watcher: a job's run costs the same queries whether
10 or 200 pages watch it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from websockets.sync.client import ClientConnection, connect

from qwen_image_editor.api.routes import activity
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_services
from tests.api.conftest import PATIENCE, SMALL_OUTPUT_PIXELS, make_settings, submit
from tests.live_server import live_server

STEPS = 20


@contextmanager
def counting_request_queries() -> Iterator[list[str]]:
    """Statements the server runs for requests and sockets (on its thread pool), not the worker's or sweeps'."""
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if threading.current_thread().name != "AnyIO worker thread":
            return
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def receive_until(socket: ClientConnection, wanted: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while not seen or not wanted(seen[-1]):
        seen.append(json.loads(socket.recv(timeout=PATIENCE)))
    return seen


def queries_for_one_job(tmp_path: Path, watchers: int) -> tuple[int, int]:
    """Queries run while `watchers` sockets watch a 20-step job from queued to complete, and how many progress
    messages the last socket got."""
    # the job runs in this test's thread (burst mode), so nothing but the sockets reads on the server's pool
    services = build_services(
        make_settings(tmp_path, worker_enabled=False),
        engine=FakeEngine(step_seconds=0, output_pixels=SMALL_OUTPUT_PIXELS),
    )
    with live_server(services) as server, ExitStack() as stack:
        sockets = [
            stack.enter_context(connect(f"{server.ws_url}/ws", open_timeout=PATIENCE, max_queue=None))
            for _ in range(watchers)
        ]
        for socket in sockets:
            assert json.loads(socket.recv(timeout=PATIENCE))["type"] == "active"
        job_id = submit(server.http, num_inference_steps=STEPS).json()["job_id"]
        for socket in sockets:  # every watcher has heard of the queued job before counting starts
            receive_until(socket, lambda m: m["type"] == "active" and m["queue_length"] == 1)
        with counting_request_queries() as statements:
            assert services.worker.run_until_idle() == 1
            for socket in sockets:
                seen = receive_until(socket, lambda m: m["type"] == "active" and m["jobs"] == [])
                assert ("complete", job_id) in [(m["type"], m.get("job_id")) for m in seen]
        progress = sum(m["type"] == "progress" for m in seen)
    services.close()
    return len(statements), progress


def test_a_job_watched_by_200_sockets_costs_what_it_costs_with_10(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(activity, "RESYNC_SECONDS", 3600.0)  # only changes read, however slow the machine
    few, progress = queries_for_one_job(tmp_path / "few", 10)
    many, _ = queries_for_one_job(tmp_path / "many", 200)
    assert progress >= STEPS  # each step reached the watchers (and the preparing and saving stages)
    # started and complete: the active jobs read once each (their page and total), for every watcher at once
    print(f"queries for one {STEPS}-step job: {few} with 10 watchers, {many} with 200")
    assert few == many <= 4, (few, many)
