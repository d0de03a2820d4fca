"""The HTTP and WebSocket API through a real uvicorn server, with a fake engine that sleeps per step.

A test that needs a job running holds it at the fake engine's step gate (`fake_engine.hold()`), and opens the
gate (or cancels the job) when done: nothing counts on steps being slow or a machine being fast."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.jobs.records import WorkerPresence
from qwen_image_editor.services import build_services
from tests.api.conftest import PATIENCE, SMALL_OUTPUT_PIXELS, eventually, make_settings, submit, wait_for
from tests.live_server import LiveServer, live_server


def watch(server: LiveServer, job_id: str, timeout: float = PATIENCE) -> tuple[list[dict[str, Any]], int | None]:
    """Every message of the job's WebSocket until the server closes it, and the close code.
    A server that does not close within `timeout` fails the test (recv raises TimeoutError)."""
    with connect(f"{server.ws_url}/ws/{job_id}", open_timeout=PATIENCE) as socket:
        return receive_until_closed(socket, timeout), socket.close_code


def receive_until_closed(socket: Any, timeout: float) -> list[dict[str, Any]]:
    messages = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            messages.append(json.loads(socket.recv(timeout=max(0.01, deadline - time.monotonic()))))
    except ConnectionClosed:
        return messages


JOB_VIEW_FIELDS = {
    "job_id", "status", "config", "progress", "error", "created_at", "started_at", "finished_at",
    "queue_position", "attempts", "inputs", "outputs", "thumbnail", "starred", "kept_until", "requeue_reason",
    "webhook", "deleting", "flattened", "mask", "region",
}  # fmt: skip


def test_health_answers_and_names_the_model(server: LiveServer) -> None:
    health = server.http.get("/api/health").json()
    assert health["status"] == "online"
    assert health["model"] == "fake" and health["demo"] is True
    assert health["model_state"] in {"not_loaded", "ready"}
    assert health["worker_alive"] is True


def test_an_api_node_reports_the_gpu_workers_behind_it_and_says_when_there_are_none(tmp_path: Path) -> None:
    services = build_services(make_settings(tmp_path, worker_enabled=False), engine=FakeEngine())
    with live_server(services) as server:
        alone = server.http.get("/api/health").json()
        assert alone["worker_alive"] is False and alone["workers"] == 0
        assert alone["model_state"] == "not_loaded" and alone["device"] == "no worker"
        assert "no GPU worker" in alone["warning"] and "qie worker" in alone["warning"]
        now = datetime.now(UTC)
        for worker_id, state, device in (("gpu0/1-a", "loading", "cuda:0"), ("gpu1/2-b", "ready", "cuda:1")):
            services.store.record_worker(WorkerPresence(worker_id, "Qwen/Qwen-Image-Edit-2511", state, device, now))
        services.store.record_worker(  # stopped two minutes ago: not counted
            WorkerPresence("gpu2/3-c", "other", "failed", "cuda:2", now - timedelta(minutes=2), "boom")
        )
        behind = server.http.get("/api/health").json()
        assert behind["workers"] == 2 and behind["warning"] is None
        assert behind["model"] == "Qwen/Qwen-Image-Edit-2511" and behind["model_state"] == "ready"
        assert behind["device"] == "cuda:0, cuda:1" and behind["model_error"] is None
    services.close()


def test_limits_come_from_the_server(server: LiveServer) -> None:
    limits = server.http.get("/api/limits").json()
    assert (limits["min_steps"], limits["max_steps"], limits["max_images"]) == (2, 150, 3)
    assert limits["max_upload_bytes"] == 2 * 1024 * 1024
    assert "image/webp" in limits["accepted_types"]


def test_an_edit_streams_one_progress_message_per_step_then_completes_and_closes(
    server: LiveServer, fake_engine: FakeEngine
) -> None:
    gate = fake_engine.hold(before_step=1)  # no step before the watcher is there, however soon the worker starts
    response = submit(server.http, num_inference_steps=6, seed=5)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued" and body["queue_position"] in (1, None)
    assert set(body) == JOB_VIEW_FIELDS | {"message"} and body["config"]["seed"] == 5  # the whole job, at once
    with connect(f"{server.ws_url}/ws/{body['job_id']}", open_timeout=PATIENCE) as socket:
        messages = [json.loads(socket.recv(timeout=PATIENCE))]  # the snapshot: subscribed from here on
        gate.open()
        messages += receive_until_closed(socket, PATIENCE)
        close_code = socket.close_code
    assert messages[0]["type"] == "snapshot"
    steps = [m["progress"]["step"] for m in messages if m["type"] == "progress" and m["progress"]["step"]]
    assert steps == [1, 2, 3, 4, 5, 6]
    final = messages[-1]
    assert final["type"] == "complete" and final["event"] == "complete"
    assert final["outputs"] == [f"/api/jobs/{body['job_id']}/files/output_1.png"]
    assert close_code == 1000
    # The first and the final messages each carry the whole job, exactly as GET shows it.
    assert set(messages[0]) >= JOB_VIEW_FIELDS and set(final) >= JOB_VIEW_FIELDS
    assert messages[0]["config"]["seed"] == 5 and final["config"]["seed"] == 5
    got = server.http.get(f"/api/jobs/{body['job_id']}").json()
    assert {key: final[key] for key in JOB_VIEW_FIELDS} == got
    # Step messages stay small: no settings, no file lists; a preview now and then.
    progress = [m for m in messages if m["type"] == "progress"]
    assert all(set(m) == {"type", "job_id", "status", "progress", "preview"} for m in progress)
    previews = [m["preview"] for m in progress if m["preview"]]
    assert previews and all(p.startswith("data:image/webp;base64,") for p in previews)
    assert not any(m["preview"] for m in progress if m["progress"]["stage"] not in ("denoising", "decoding"))


def test_snapshot_of_a_finished_job_then_close(server: LiveServer) -> None:
    job_id = submit(server.http).json()["job_id"]
    wait_for(server.http, job_id, {"complete"})
    messages, close_code = watch(server, job_id)
    assert [m["type"] for m in messages] == ["snapshot", "complete"]
    assert messages[0]["outputs"] == messages[1]["outputs"] == [f"/api/jobs/{job_id}/files/output_1.png"]
    assert messages[0]["thumbnail"] == f"/api/jobs/{job_id}/files/thumbnail.webp"
    assert close_code == 1000


def test_result_downloads_as_often_as_wanted(server: LiveServer) -> None:
    job_id = submit(server.http, seed=9).json()["job_id"]
    job = wait_for(server.http, job_id, {"complete"})
    assert job["config"]["seed"] == 9
    first = server.http.get(f"/api/jobs/{job_id}/download")
    second = server.http.get(f"/api/jobs/{job_id}/download")
    assert first.status_code == second.status_code == 200
    assert first.content == second.content and first.content.startswith(b"\x89PNG")
    assert first.headers["content-disposition"] == 'attachment; filename="make-the-sky-stormy_seed9.png"'
    assert first.headers["x-content-type-options"] == "nosniff"
    assert first.headers["content-type"] == "image/png"
    for url in job["inputs"] + job["outputs"] + [job["thumbnail"]]:
        assert server.http.get(url).status_code == 200


def test_seed_is_chosen_and_reported_when_absent(server: LiveServer) -> None:
    job_id = submit(server.http).json()["job_id"]
    seed = server.http.get(f"/api/jobs/{job_id}").json()["config"]["seed"]
    assert isinstance(seed, int)


def test_queue_positions_and_fifo_order(server: LiveServer, fake_engine: FakeEngine) -> None:
    gate = fake_engine.hold()
    blocker = submit(server.http, num_inference_steps=100).json()["job_id"]
    gate.wait_held()  # running, and it stays running until cancelled
    ids = [submit(server.http, num_inference_steps=2, prompt=f"job {n}").json()["job_id"] for n in range(3)]
    positions = [server.http.get(f"/api/jobs/{job_id}").json()["queue_position"] for job_id in ids]
    assert positions == [1, 2, 3]
    assert server.http.get("/api/health").json()["queue_length"] == 3
    server.http.post(f"/api/jobs/{blocker}/cancel")
    assert wait_for(server.http, blocker, {"cancelled", "complete", "error"})["status"] == "cancelled"
    gate.open()
    jobs = [wait_for(server.http, job_id, {"complete"}) for job_id in ids]
    started = [job["started_at"] for job in jobs]
    assert started == sorted(started)
    assert all(job["queue_position"] is None for job in jobs)


def test_history_lists_newest_first_with_filters(server: LiveServer) -> None:
    ids = [submit(server.http, prompt=f"job {n}", num_inference_steps=2).json()["job_id"] for n in range(3)]
    for job_id in ids:
        wait_for(server.http, job_id, {"complete"})
    listing = server.http.get("/api/jobs").json()
    assert listing["total"] == 3
    assert [job["job_id"] for job in listing["jobs"]] == ids[::-1]
    page = server.http.get("/api/jobs", params={"limit": 1, "offset": 1}).json()
    assert [job["job_id"] for job in page["jobs"]] == [ids[1]]
    assert server.http.get("/api/jobs", params={"status": "error"}).json() == {"jobs": [], "total": 0}


def test_cancel_a_queued_job_at_once_and_a_running_job_at_its_next_step(
    server: LiveServer, fake_engine: FakeEngine
) -> None:
    gate = fake_engine.hold(before_step=2)  # step 1 is done, and the job waits before its next one
    running = submit(server.http, num_inference_steps=40).json()["job_id"]
    queued = submit(server.http, num_inference_steps=2).json()["job_id"]
    gate.wait_held()
    cancelled = server.http.post(f"/api/jobs/{queued}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    server.http.post(f"/api/jobs/{running}/cancel")
    job = wait_for(server.http, running, {"cancelled", "complete", "error"})
    assert job["status"] == "cancelled" and job["progress"]["step"] == 1  # it went no further
    again = server.http.post(f"/api/jobs/{running}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]
    # the worker is healthy and takes the next job
    gate.open()
    after = submit(server.http, num_inference_steps=2).json()["job_id"]
    wait_for(server.http, after, {"complete"})


def test_a_failing_job_ends_in_error_and_the_next_one_runs(server: LiveServer) -> None:
    failing = submit(server.http, prompt="raise: out of disk for this one").json()["job_id"]
    job = wait_for(server.http, failing, {"error"})
    assert "out of disk for this one" in job["error"]
    fine = submit(server.http).json()["job_id"]
    wait_for(server.http, fine, {"complete"})


def test_delete_removes_record_and_files(server: LiveServer) -> None:
    job_id = submit(server.http).json()["job_id"]
    wait_for(server.http, job_id, {"complete"})
    folder = server.services.settings.jobs_dir / job_id
    assert folder.is_dir()
    deleted = server.http.delete(f"/api/jobs/{job_id}")
    assert deleted.status_code == 200
    assert deleted.json() == {"message": f"Job {job_id} deleted (it was complete)", "job_id": job_id}
    assert server.http.get(f"/api/jobs/{job_id}").status_code == 404
    assert not folder.exists()


def test_delete_of_a_running_job_cancels_it_first(server: LiveServer, fake_engine: FakeEngine) -> None:
    gate = fake_engine.hold()
    job_id = submit(server.http, num_inference_steps=50).json()["job_id"]
    gate.wait_held()
    deleted = server.http.delete(f"/api/jobs/{job_id}")
    assert deleted.status_code == 200 and deleted.json()["job_id"] == job_id
    assert "cancelled" in deleted.json()["message"]
    eventually(lambda: server.http.get(f"/api/jobs/{job_id}").status_code == 404, "the job gone once it stopped")


def test_cleanup_endpoint_removes_finished_jobs_only(server: LiveServer, fake_engine: FakeEngine) -> None:
    done = submit(server.http).json()["job_id"]
    wait_for(server.http, done, {"complete"})
    gate = fake_engine.hold()
    running = submit(server.http, num_inference_steps=30).json()["job_id"]
    gate.wait_held()
    response = server.http.post("/api/cleanup", params={"hours": 0})
    assert response.status_code == 200
    assert response.json()["deleted"] == [done]
    assert server.http.get(f"/api/jobs/{running}").json()["status"] == "processing"
    gate.open()


def test_unknown_job_on_the_websocket_closes_4404(server: LiveServer) -> None:
    messages, code = watch(server, "00000000-0000-4000-8000-000000000000")
    assert messages == [] and code == 4404


@pytest.mark.parametrize("job_id", ["00000000-0000-4000-8000-000000000000", "not-a-uuid", "..%2F..%2Fetc"])
def test_unknown_or_malformed_job_ids_are_404(server: LiveServer, job_id: str) -> None:
    for method, path in (
        ("GET", f"/api/jobs/{job_id}"),
        ("GET", f"/api/jobs/{job_id}/download"),
        ("GET", f"/api/jobs/{job_id}/files/output_1.png"),
        ("POST", f"/api/jobs/{job_id}/cancel"),
        ("DELETE", f"/api/jobs/{job_id}"),
    ):
        response = server.http.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert "detail" in response.json()


def test_file_names_outside_the_roles_are_404(server: LiveServer) -> None:
    job_id = submit(server.http).json()["job_id"]
    wait_for(server.http, job_id, {"complete"})
    for name in ("..%2F..%2Fqie.db", "metadata.json", "input_9.png", "%2Fetc%2Fpasswd"):
        assert server.http.get(f"/api/jobs/{job_id}/files/{name}").status_code == 404


class HeldLoadEngine(FakeEngine):
    """A fake engine whose model loads until the test lets it finish (`loaded.set()`)."""

    def __init__(self) -> None:
        super().__init__(step_seconds=0.01, output_pixels=SMALL_OUTPUT_PIXELS)
        self.loading, self.loaded = threading.Event(), threading.Event()

    def _load(self) -> None:
        self.loading.set()
        self.loaded.wait(2 * PATIENCE)
        super()._load()


def test_the_server_answers_while_the_model_loads(tmp_path: Path) -> None:
    engine = HeldLoadEngine()
    with live_server(build_services(make_settings(tmp_path), engine=engine)) as server:
        job_id = submit(server.http).json()["job_id"]
        try:
            assert engine.loading.wait(PATIENCE), "the model never started loading"
            for _ in range(3):  # answered while the load has not finished, and says so
                health = server.http.get("/api/health").json()
                assert health["model_state"] == "loading" and health["status"] == "online"
            assert server.http.get(f"/api/jobs/{job_id}").json()["status"] == "processing"
        finally:
            engine.loaded.set()
        job = wait_for(server.http, job_id, {"complete"})
        assert job["status"] == "complete"
        assert server.http.get("/api/health").json()["model_state"] == "ready"


def test_a_full_queue_answers_503_with_retry_after(tmp_path: Path) -> None:
    engine = FakeEngine(output_pixels=SMALL_OUTPUT_PIXELS)
    gate = engine.hold()
    with live_server(build_services(make_settings(tmp_path, max_queue=2), engine=engine)) as server:
        accepted = [submit(server.http, num_inference_steps=50)]
        gate.wait_held()
        accepted += [submit(server.http, num_inference_steps=50) for _ in range(2)]
        assert all(response.status_code == 202 for response in accepted)  # one runs, two wait
        refused = submit(server.http)
        assert refused.status_code == 503
        assert refused.headers["retry-after"]
        assert "queue is full" in refused.json()["detail"]
        for response in accepted:
            server.http.post(f"/api/jobs/{response.json()['job_id']}/cancel")
        gate.open()


def test_a_watched_queued_job_hears_its_new_queue_position(server: LiveServer, fake_engine: FakeEngine) -> None:
    gate = fake_engine.hold()
    running = submit(server.http, num_inference_steps=100).json()["job_id"]
    gate.wait_held()
    ahead = submit(server.http).json()["job_id"]
    watched = submit(server.http).json()["job_id"]
    with connect(f"{server.ws_url}/ws/{watched}", open_timeout=PATIENCE) as socket:
        assert json.loads(socket.recv(timeout=PATIENCE))["queue_position"] == 2
        server.http.post(f"/api/jobs/{ahead}/cancel")
        update = json.loads(socket.recv(timeout=PATIENCE))
        assert update["type"] == "snapshot" and update["queue_position"] == 1
    server.http.post(f"/api/jobs/{running}/cancel")


def test_deleting_a_watched_queued_job_sends_it_cancelled_then_closes(
    server: LiveServer, fake_engine: FakeEngine
) -> None:
    gate = fake_engine.hold()
    running = submit(server.http, num_inference_steps=100).json()["job_id"]
    gate.wait_held()
    queued = submit(server.http).json()["job_id"]
    with connect(f"{server.ws_url}/ws/{queued}", open_timeout=PATIENCE) as socket:
        assert json.loads(socket.recv(timeout=PATIENCE))["status"] == "queued"
        assert server.http.delete(f"/api/jobs/{queued}").status_code == 200
        messages = receive_until_closed(socket, timeout=PATIENCE)
        assert [(m["type"], m["event"], m["status"]) for m in messages] == [("cancelled", "cancelled", "cancelled")]
        assert socket.close_code == 1000
    server.http.post(f"/api/jobs/{running}/cancel")


def test_a_job_removed_elsewhere_closes_its_socket_4404(server: LiveServer, fake_engine: FakeEngine) -> None:
    """Another process (a second API node, say) removed the job: no event reaches us, the resync notices."""
    gate = fake_engine.hold()
    running = submit(server.http, num_inference_steps=100).json()["job_id"]
    gate.wait_held()
    queued = submit(server.http).json()["job_id"]
    with connect(f"{server.ws_url}/ws/{queued}", open_timeout=PATIENCE) as socket:
        assert json.loads(socket.recv(timeout=PATIENCE))["status"] == "queued"
        store = server.services.store  # behind the event bus's back, as another process would
        store.request_cancel(queued)
        store.delete_job(queued)
        assert receive_until_closed(socket, timeout=PATIENCE) == []
        assert socket.close_code == 4404
    server.http.post(f"/api/jobs/{running}/cancel")
