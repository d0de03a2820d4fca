"""Webhook targets: private addresses refused in every IPv6 spelling that leads to them, every resolved address
checked, and deliveries sent side by side so that a receiver that never answers delays no other."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from qwen_image_editor.application.webhooks import WebhookRefused, WebhookSender, WebhookTiming, checked_addresses
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.jobs.ids import new_job_id
from qwen_image_editor.store.sql import SqlJobStore
from qwen_image_editor.store.webhooks import SqlWebhookStore

PATIENCE = 30.0  # seconds; only ever reached when a delivery waits behind another

# Each leads to a loopback, private, link-local or otherwise not globally routable IPv4 or IPv6 address.
REFUSED = [
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254 (the cloud metadata service)
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b:1::a9fe:a9fe",  # local-use NAT64
    "::169.254.169.254",  # IPv4-compatible (deprecated)
    "::127.0.0.1",  # IPv4-compatible loopback
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.1.2.3",  # IPv4-mapped private
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "fec0::1",  # site-local (deprecated)
    "192.88.99.1",  # the 6to4 relay anycast (deprecated)
    "::1",
    "fe80::1",
    "fc00::1",
    "127.0.0.1",
    "169.254.169.254",
    "10.0.0.1",
]
ALLOWED = ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]


def url_of(address: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:8080/hook"


@pytest.mark.parametrize("address", REFUSED)
def test_a_private_target_is_refused_in_every_spelling(address: str) -> None:
    with pytest.raises(WebhookRefused, match="QIE_WEBHOOK_ALLOW_PRIVATE"):
        checked_addresses(url_of(address), allow_private=False)


@pytest.mark.parametrize("address", ALLOWED)
def test_a_public_target_is_allowed(address: str) -> None:
    assert checked_addresses(url_of(address), allow_private=False) == [ipaddress.ip_address(address)]


def test_every_resolved_address_is_checked_not_only_the_first() -> None:
    def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "2606:4700::1111", "64:ff9b::7f00:1"]

    with pytest.raises(WebhookRefused, match="64:ff9b::7f00:1"):
        checked_addresses("https://hooks.example.com/x", allow_private=False, resolve=resolve)


@contextmanager
def silent_receiver() -> Iterator[str]:
    """Accepts connections and never answers, until the test ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


@contextmanager
def answering_receiver() -> Iterator[tuple[str, threading.Event]]:
    got = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            got.set()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    finally:
        server.shutdown()
        server.server_close()


def test_receivers_that_never_answer_delay_no_other_delivery(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'qie.db'}"
    jobs, webhooks = SqlJobStore(url), SqlWebhookStore(url)
    # A timeout far beyond the test's patience: with one delivery at a time, the answering receiver would
    # wait for three of them.
    timing = WebhookTiming(timeout_seconds=120, first_retry_seconds=1, max_retry_seconds=1, give_up_seconds=600)
    sender = WebhookSender(webhooks, jobs, lambda job: b'{"status": "complete"}', timing, allow_private=True)
    with answering_receiver() as (alive, delivered):
        with silent_receiver() as dead:
            for target in (dead, dead, dead, alive):  # the dead ones first, as a queue would have them
                job_id = new_job_id()
                jobs.create_job(job_id, EditRequest(prompt="x", seed=1, webhook_url=target), 1)
                jobs.request_cancel(job_id)  # a queued job ends at once, and its delivery is due
            running = threading.Thread(target=sender.run_until_idle, daemon=True)
            running.start()
            assert delivered.wait(PATIENCE), "the answering receiver waited behind the silent ones"
        running.join(PATIENCE)  # the silent receiver hung up: those deliveries failed, to be retried later
        assert not running.is_alive()
    sender.close()
    webhooks.close()
