"""Undo of a cancel (requeued ahead of the queue, with its seed) and cancel-all of the caller's queued jobs, through a
real server. Running jobs are held at the fake engine's step gate, so nothing counts on timing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from qwen_image_editor.accounts import Role
from qwen_image_editor.api.activity_feed import ActiveJobs, Update, Watcher
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.fake import FakeEngine, StepGate
from qwen_image_editor.errors import InvalidTransition
from qwen_image_editor.events.local import SUBSCRIBER_BUFFER
from qwen_image_editor.jobs.events import JobProgressed
from qwen_image_editor.jobs.records import Progress
from qwen_image_editor.services import build_services
from qwen_image_editor.store.sql import SqlJobStore
from tests.api.conftest import PATIENCE, SMALL_OUTPUT_PIXELS, make_settings, submit, wait_for
from tests.live_server import LiveServer, live_server


@dataclass
class Two:
    server: LiveServer
    gate: StepGate
    alice: httpx.Client
    bob: httpx.Client


@pytest.fixture
def two(tmp_path: Path) -> Iterator[Two]:
    """Alice and Bob (plain keys) on one server whose edits wait at the gate until the test opens it."""
    engine = FakeEngine(step_seconds=0.0, output_pixels=SMALL_OUTPUT_PIXELS)
    gate = engine.hold()
    services = build_services(make_settings(tmp_path), engine=engine)
    keys = {name: services.access.create_key(name, Role.USER)[1] for name in ("alice", "bob")}
    with live_server(services) as server:
        clients = {
            name: httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=PATIENCE)
            for name, key in keys.items()
        }
        try:
            yield Two(server, gate, clients["alice"], clients["bob"])
        finally:
            gate.open()
            for client in clients.values():
                client.close()


def _submit(http: httpx.Client, **config: object) -> str:
    response = submit(http, num_inference_steps=3, **config)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def test_an_undone_cancel_of_a_running_job_requeues_it_first_with_its_seed(two: Two) -> None:
    running = _submit(two.alice, seed=4242, prompt="the one I wanted")
    two.gate.wait_held()
    waiting = [_submit(two.alice, prompt=f"waiting {n}") for n in range(2)]
    assert two.alice.post(f"/api/jobs/{running}/cancel").status_code == 200
    # asked at once, while the run may still be stopping: the undo waits for it to stop, then requeues it
    undone = two.alice.post(f"/api/jobs/{running}/undo-cancel")
    assert undone.status_code == 200, undone.text
    job = undone.json()
    assert job["status"] == "queued" and job["queue_position"] == 1
    assert job["config"]["seed"] == 4242 and job["requeue_reason"] == "cancel_undone"
    assert job["progress"] is None and job["finished_at"] is None
    # the worker took the undone job again, or (when it claimed before the undo) the first waiting one: whichever
    # runs, the undone job is ahead of every job still waiting
    two.gate.wait_held()
    views = {job_id: two.alice.get(f"/api/jobs/{job_id}").json() for job_id in [running, *waiting]}
    still_waiting = sorted((v["queue_position"], job_id) for job_id, v in views.items() if v["status"] == "queued")
    assert views[running]["status"] == "processing" or still_waiting[0][1] == running
    assert still_waiting[-1][1] == waiting[1]
    two.gate.open()
    done = [wait_for(two.alice, job_id, {"complete", "error", "cancelled"}) for job_id in [running, *waiting]]
    assert [job["status"] for job in done] == ["complete"] * 3
    assert done[0]["config"]["seed"] == 4242 and done[0]["attempts"] == 1  # the cancelled run is not counted
    assert done[2]["started_at"] > done[0]["started_at"]  # it went ahead of the one that waited


def test_undo_is_owner_scoped_and_only_for_a_cancel(two: Two) -> None:
    running = _submit(two.alice)
    two.gate.wait_held()
    queued = _submit(two.alice)
    assert two.bob.post(f"/api/jobs/{queued}/cancel").status_code == 404
    refused = two.alice.post(f"/api/jobs/{queued}/undo-cancel")
    assert refused.status_code == 409 and "no cancel to undo" in refused.json()["detail"]
    assert two.alice.post(f"/api/jobs/{queued}/cancel").json()["status"] == "cancelled"
    assert two.bob.post(f"/api/jobs/{queued}/undo-cancel").status_code == 404  # someone else's: as if missing
    assert two.alice.get(f"/api/jobs/{queued}").json()["status"] == "cancelled"
    assert two.alice.post(f"/api/jobs/{queued}/undo-cancel").json()["status"] == "queued"
    two.gate.open()
    assert wait_for(two.alice, running, {"complete"})["status"] == "complete"
    finished = wait_for(two.alice, queued, {"complete"})
    again = two.alice.post(f"/api/jobs/{queued}/undo-cancel")
    assert again.status_code == 409 and "complete" in again.json()["detail"]
    assert finished["status"] == "complete"


def test_a_cancel_is_undoable_only_moments_after_it(tmp_path: Path) -> None:
    now = [datetime(2026, 12, 1, 12, 0, tzinfo=UTC)]
    store = SqlJobStore(f"sqlite:///{tmp_path / 'jobs.db'}", clock=lambda: now[0])
    try:
        job = store.create_job(str(uuid.uuid4()), EditRequest(prompt="p", seed=5), 1)
        store.request_cancel(job.id)
        now[0] += timedelta(seconds=61)
        with pytest.raises(InvalidTransition, match=r"more than 60 s ago.*submit it again"):
            store.undo_cancel(job.id, within_seconds=60)
        now[0] -= timedelta(seconds=2)
        assert store.undo_cancel(job.id, within_seconds=60).request.seed == 5
    finally:
        store.close()


def test_cancel_all_cancels_only_the_callers_queued_jobs(two: Two) -> None:
    running = _submit(two.alice)
    two.gate.wait_held()
    alices = [_submit(two.alice, prompt=f"alice {n}") for n in range(3)]
    bobs = [_submit(two.bob, prompt=f"bob {n}") for n in range(2)]
    answer = two.alice.post("/api/jobs/cancel-queued")
    assert answer.status_code == 200, answer.text
    assert answer.json()["job_ids"] == alices and answer.json()["message"] == "3 queued jobs cancelled"
    assert {two.alice.get(f"/api/jobs/{a}").json()["status"] for a in alices} == {"cancelled"}
    assert two.alice.get(f"/api/jobs/{running}").json()["status"] == "processing"  # running jobs go on
    assert [two.bob.get(f"/api/jobs/{b}").json()["queue_position"] for b in bobs] == [1, 2]
    assert two.alice.post("/api/jobs/cancel-queued").json()["job_ids"] == []  # nothing left: nothing to do
    two.gate.open()
    assert [wait_for(two.bob, b, {"complete"})["status"] for b in bobs] == ["complete", "complete"]


def test_a_slow_page_loses_steps_before_it_loses_a_change() -> None:
    """A watcher whose buffer fills with steps behind a change keeps the change (with the active jobs after it),
    so its strip never keeps a finished job running beside the next."""
    watcher = Watcher()
    step = JobProgressed(
        job_id="a", progress=Progress(stage="denoising", message="step", progress=5, updated_at=datetime.now(UTC))
    )
    change = Update(active=ActiveJobs(queue_length=0, views=[]))
    watcher.offer(change)
    for _ in range(SUBSCRIBER_BUFFER):  # one more step than fits behind it
        watcher.offer(Update(progressed=step))

    async def drain() -> list[Update]:
        return [await watcher.next_update() for _ in range(SUBSCRIBER_BUFFER)]

    # a loop of its own, on a thread of its own: the browser tests' Playwright may run one on this thread
    with ThreadPoolExecutor(1) as thread:
        updates = thread.submit(asyncio.run, drain()).result()
    assert updates[0] is change
    assert all(update.progressed is step for update in updates[1:])
