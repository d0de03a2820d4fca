"""`WS /ws`: the caller's active jobs and the queue, live, for the page's queue strip and header counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from qwen_image_editor.accounts import Role
from qwen_image_editor.api.routes import activity
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_services
from tests.api.conftest import PATIENCE, make_settings, submit, wait_for
from tests.live_server import LiveServer, live_server


def receive(socket: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(socket.recv(timeout=PATIENCE))
    return message


def until(socket: ClientConnection, wanted: Any) -> list[dict[str, Any]]:
    """Messages up to and including the first for which `wanted(message)` holds."""
    seen = [receive(socket)]
    while not wanted(seen[-1]):
        seen.append(receive(socket))
    return seen


def test_the_strip_hears_its_jobs_queue_start_progress_and_end(server: LiveServer, fake_engine: FakeEngine) -> None:
    gate = fake_engine.hold()  # the first job stays active until both are listed
    with connect(f"{server.ws_url}/ws", open_timeout=PATIENCE) as socket:
        assert receive(socket) == {"type": "active", "queue_length": 0, "jobs": []}
        first = submit(server.http, num_inference_steps=4).json()["job_id"]
        second = submit(server.http, num_inference_steps=4).json()["job_id"]
        seen = until(socket, lambda m: m["type"] == "active" and [j["job_id"] for j in m["jobs"]] == [first, second])
        both = seen[-1]["jobs"]
        assert [job["status"] for job in both] in (["queued", "queued"], ["processing", "queued"])
        assert both[1]["queue_position"] in (1, 2) and both[1]["config"]["prompt"]
        gate.open()
        rest = until(socket, lambda m: m["type"] == "active" and m["jobs"] == [] and m["queue_length"] == 0)
        kinds = [(m["type"], m.get("event"), m["job_id"]) for m in seen + rest if m["type"] != "active"]
        for job_id in (first, second):
            assert ("status", "queued", job_id) in kinds and ("status", "started", job_id) in kinds
            assert ("progress", None, job_id) in kinds and ("complete", "complete", job_id) in kinds
        wait_for(server.http, second, {"complete"})


def test_each_key_hears_only_its_own_jobs_but_counts_the_whole_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(activity, "RESYNC_SECONDS", 3600.0)  # every message below comes from an event, however slow
    services = build_services(make_settings(tmp_path, worker_enabled=False), engine=FakeEngine(step_seconds=0))
    alice = services.access.create_key("alice", Role.USER)[1]
    bob = services.access.create_key("bob", Role.USER)[1]
    with live_server(services) as server:
        as_alice = httpx.Client(base_url=server.url, headers={"X-API-Key": alice})
        as_bob = httpx.Client(base_url=server.url, headers={"X-API-Key": bob})
        with connect(f"{server.ws_url}/ws", open_timeout=PATIENCE, additional_headers={"X-API-Key": alice}) as socket:
            assert receive(socket)["jobs"] == []
            assert submit(as_bob).status_code == 202
            after_bob = receive(socket)
            assert after_bob == {"type": "active", "queue_length": 1, "jobs": []}  # no job message for bob's
            mine = submit(as_alice).json()["job_id"]
            queued, active = receive(socket), receive(socket)
            assert (queued["type"], queued["event"], queued["job_id"]) == ("status", "queued", mine)
            assert active["queue_length"] == 2 and [job["job_id"] for job in active["jobs"]] == [mine]
            assert active["jobs"][0]["queue_position"] == 2
        with connect(f"{server.ws_url}/ws", open_timeout=PATIENCE) as anonymous:
            with pytest.raises(ConnectionClosed):
                anonymous.recv(timeout=PATIENCE)
            assert anonymous.close_code == 1008
