"""Webhooks: signed, retried, kept through a restart, and never aimed at private addresses unless allowed."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from qwen_image_editor.application.webhooks import WebhookRefused, checked_addresses
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_services
from qwen_image_editor.store.webhooks import SqlWebhookStore
from tests.api.conftest import PATIENCE, SMALL_OUTPUT_PIXELS, make_settings, submit, wait_for
from tests.live_server import LiveServer, free_port, live_server

FAST_RETRIES = {"webhook_allow_private": True, "webhook_first_retry_seconds": 0.2, "webhook_max_retry_seconds": 0.5}


@dataclass
class Receiver:
    url: str
    answers: list[int] = field(default_factory=list)  # statuses to answer, in order; 200 once used up
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def wait(self, count: int, timeout: float = PATIENCE) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} webhook requests, got {len(self.received)}")
            time.sleep(0.02)
        return self.received


@contextmanager
def receiver(answers: list[int] | None = None, port: int = 0) -> Iterator[Receiver]:
    state = Receiver(url="", answers=list(answers or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(state.answers.pop(0) if state.answers else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    state.url = f"http://127.0.0.1:{http.server_address[1]}/hook?from=qie"
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        http.shutdown()
        http.server_close()


@contextmanager
def webhook_server(data_dir: Path, **overrides: Any) -> Iterator[LiveServer]:
    engine = FakeEngine(step_seconds=0.01, output_pixels=SMALL_OUTPUT_PIXELS)
    services = build_services(make_settings(data_dir, **{**FAST_RETRIES, **overrides}), engine=engine)
    with live_server(services) as running:
        yield running


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (README, "Webhooks")."""
    expected = hmac.new(secret.encode(), f"{headers['x-qie-timestamp']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(headers["x-qie-signature"], "sha256=" + expected.hexdigest())


def secret_of(data_dir: Path) -> str:
    store = SqlWebhookStore(make_settings(data_dir).resolved_database_url)
    try:
        return store.secret()
    finally:
        store.close()


def wait_for_webhook(server: LiveServer, job_id: str, status: str, timeout: float = PATIENCE) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = server.http.get(f"/api/jobs/{job_id}").json()
        if (job["webhook"] or {}).get("status") == status:
            return job
        time.sleep(0.05)
    raise AssertionError(f"webhook of {job_id} never became {status}: {job['webhook']}")


def test_an_ended_job_is_posted_to_its_webhook_signed(tmp_path: Path) -> None:
    with receiver() as hook, webhook_server(tmp_path) as server:
        submitted = submit(server.http, webhook_url=hook.url)
        assert submitted.status_code == 202, submitted.text
        assert submitted.json()["webhook"] == {
            "url": hook.url, "status": "pending", "attempts": 0, "last_status": None, "last_error": None
        }  # fmt: skip
        job_id = submitted.json()["job_id"]
        wait_for(server.http, job_id, {"complete"})
        [(headers, body)] = hook.wait(1)
        job = wait_for_webhook(server, job_id, "delivered")

    assert verify(secret_of(tmp_path), headers, body)
    assert not verify("another secret", headers, body)
    assert abs(int(headers["x-qie-timestamp"]) - time.time()) < 60
    assert headers["x-qie-event"] == "job.complete" and headers["content-type"] == "application/json"
    assert len(headers["x-qie-delivery"]) == 36
    sent = json.loads(body)
    assert sent["job_id"] == job_id and sent["status"] == "complete" and sent["outputs"] == job["outputs"]
    assert job["webhook"] == {
        "url": hook.url, "status": "delivered", "attempts": 1, "last_status": 200, "last_error": None
    }  # fmt: skip


def test_a_failing_receiver_is_retried_with_the_same_delivery(tmp_path: Path) -> None:
    with receiver(answers=[500]) as hook, webhook_server(tmp_path) as server:
        job_id = submit(server.http, webhook_url=hook.url).json()["job_id"]
        (first_headers, first_body), (headers, body) = hook.wait(2)
        job = wait_for_webhook(server, job_id, "delivered")
    assert first_headers["x-qie-delivery"] == headers["x-qie-delivery"] and first_body == body
    assert verify(secret_of(tmp_path), headers, body)
    assert job["webhook"]["attempts"] == 2 and job["webhook"]["last_status"] == 200


def test_a_webhook_still_failing_is_given_up(tmp_path: Path) -> None:
    with receiver(answers=[503] * 100) as hook, webhook_server(tmp_path, webhook_give_up_seconds=0.5) as server:
        job_id = submit(server.http, webhook_url=hook.url).json()["job_id"]
        job = wait_for_webhook(server, job_id, "failed")
    assert job["webhook"]["last_status"] == 503 and "503" in job["webhook"]["last_error"]
    assert job["webhook"]["attempts"] == len(hook.received) >= 1


def test_a_delivery_pending_at_shutdown_is_delivered_after_a_restart(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there yet: every attempt is refused
    url = f"http://127.0.0.1:{port}/hook"
    with webhook_server(tmp_path, webhook_first_retry_seconds=0.3) as first:
        job_id = submit(first.http, webhook_url=url).json()["job_id"]
        job = wait_for_webhook(first, job_id, "retrying")
        assert job["status"] == "complete" and job["webhook"]["last_status"] is None
        assert job["webhook"]["last_error"]  # the connection was refused
    with receiver(port=port) as hook, webhook_server(tmp_path) as second:
        [(headers, body)] = hook.wait(1)
        job = wait_for_webhook(second, job_id, "delivered")
    assert json.loads(body)["job_id"] == job_id and verify(secret_of(tmp_path), headers, body)
    assert job["webhook"]["attempts"] >= 2


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",  # a name: refused for what it resolves to
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",  # cloud metadata
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_private_addresses_are_refused_at_submit(server: LiveServer, url: str) -> None:
    response = submit(server.http, webhook_url=url)
    assert response.status_code == 422, response.text
    assert "QIE_WEBHOOK_ALLOW_PRIVATE=1" in response.json()["detail"]
    assert server.http.get("/api/jobs").json()["total"] == 0


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "http://user:pw@example.com/", "hook"])
def test_webhooks_are_http_urls(server: LiveServer, url: str) -> None:
    response = submit(server.http, webhook_url=url)
    assert response.status_code == 422 and "webhook_url" in response.text


def test_the_address_is_checked_again_after_resolution() -> None:
    """A name that resolved to a public address at submit and to a private one later (DNS rebinding)."""
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    url = "http://rebind.example/hook"
    assert [str(a) for a in checked_addresses(url, allow_private=False, resolve=rebinding)] == ["93.184.215.14"]
    with pytest.raises(WebhookRefused, match=r"127\.0\.0\.1"):
        checked_addresses(url, allow_private=False, resolve=rebinding)


def test_qie_remote_edit_sends_a_webhook_url(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from qwen_image_editor.cli import app
    from tests.api.conftest import png_bytes

    source = tmp_path / "in.png"
    source.write_bytes(png_bytes())
    with receiver() as hook, webhook_server(tmp_path / "data") as server:
        result = CliRunner().invoke(
            app,
            ["remote", "edit", str(source), "-p", "make it snow", "-o", str(tmp_path / "out.png"),
             "--server", server.url, "--steps", "3", "--webhook-url", hook.url],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        [(headers, body)] = hook.wait(1)
    assert json.loads(body)["config"]["webhook_url"] == hook.url and headers["x-qie-event"] == "job.complete"
