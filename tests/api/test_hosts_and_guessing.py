"""Issue 19, points 1 and 2: the wrong-key throttle refuses only wrong keys and believes X-Forwarded-For only
from QIE_TRUSTED_PROXIES, its table stays bounded; only our own host names are answered (DNS rebinding)."""

from __future__ import annotations

import socket
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import ValidationError
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from qwen_image_editor.accounts import Role
from qwen_image_editor.api.access import SESSION_COOKIE
from qwen_image_editor.application.access import FailedSignIns
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.errors import QuotaExceeded
from qwen_image_editor.services import build_services
from qwen_image_editor.settings import Settings
from tests.api.conftest import PATIENCE, SMALL_OUTPUT_PIXELS, make_settings, submit, wait_for
from tests.live_server import LiveServer, live_server


@contextmanager
def serving(tmp_path: Path, *, keys: bool, **settings: Any) -> Iterator[tuple[LiveServer, str | None]]:
    services = build_services(
        make_settings(tmp_path, **settings), engine=FakeEngine(step_seconds=0.01, output_pixels=SMALL_OUTPUT_PIXELS)
    )
    key = services.access.create_key("alice", Role.USER)[1] if keys else None
    with live_server(services) as server:
        yield server, key


def port_of(server: LiveServer) -> int:
    port = urlsplit(server.url).port
    assert port is not None
    return port


def socket_as(server: LiveServer, host: str, path: str, **options: Any) -> ClientConnection:
    """A WebSocket to the test server that names `host` in its handshake (as a browser would after rebinding)."""
    sock = socket.create_connection(("127.0.0.1", port_of(server)), timeout=PATIENCE)
    return connect(f"ws://{host}:{port_of(server)}{path}", sock=sock, open_timeout=PATIENCE, **options)


# -- 1. wrong keys ------------------------------------------------------------------------------


def test_a_right_key_or_session_is_never_refused_by_the_wrong_key_throttle(tmp_path: Path) -> None:
    with serving(tmp_path, keys=True, failed_sign_ins_per_minute=3) as (server, key):
        guesser = httpx.Client(base_url=server.url, headers={"Authorization": "Bearer qie_guess"}, timeout=PATIENCE)
        codes = [guesser.get("/api/jobs").status_code for _ in range(11)]
        assert codes == [401] * 3 + [429] * 8
        # from the same address (one proxy, one NAT): the right key, the sign-in and the session all work
        right = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=PATIENCE)
        assert right.get("/api/jobs").status_code == 200
        with httpx.Client(base_url=server.url, timeout=PATIENCE) as browser:
            assert browser.post("/api/session", json={"key": key}).status_code == 200
            assert SESSION_COOKIE in browser.cookies
            assert browser.get("/api/jobs").status_code == 200
            assert browser.post("/api/session", json={"key": "qie_guess"}).status_code == 429
        assert guesser.get("/api/jobs").status_code == 429  # while the wrong ones still wait


def test_x_forwarded_for_is_not_believed_by_default(tmp_path: Path) -> None:
    with serving(tmp_path, keys=True, failed_sign_ins_per_minute=3) as (server, _):
        codes = [
            httpx.get(
                f"{server.url}/api/jobs",
                headers={"Authorization": "Bearer qie_guess", "X-Forwarded-For": f"198.51.100.{n}"},
                timeout=PATIENCE,
            ).status_code
            for n in range(10)
        ]
        assert codes == [401] * 3 + [429] * 7


def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    with serving(tmp_path, keys=True, failed_sign_ins_per_minute=3, trusted_proxies=["127.0.0.0/8"]) as (server, _):

        def wrong_key_from(client: str) -> int:
            headers = {"Authorization": "Bearer qie_guess", "X-Forwarded-For": client}
            return httpx.get(f"{server.url}/api/jobs", headers=headers, timeout=PATIENCE).status_code

        assert [wrong_key_from("203.0.113.5") for _ in range(4)] == [401, 401, 401, 429]
        refused = httpx.get(
            f"{server.url}/api/jobs",
            headers={"Authorization": "Bearer qie_guess", "X-Forwarded-For": "203.0.113.5"},
            timeout=PATIENCE,
        )
        assert "from 203.0.113.5" in refused.json()["detail"]
        assert wrong_key_from("203.0.113.6") == 401  # another client behind the proxy has its own budget
        # a client's own X-Forwarded-For before the proxy's entry changes nothing: the proxy appended the truth
        assert wrong_key_from("198.51.100.1, 203.0.113.5") == 429


def test_the_throttle_table_is_a_bounded_lru_whose_entries_expire() -> None:
    now = [0.0]
    throttle = FailedSignIns(10, window=60.0, max_addresses=1000, clock=lambda: now[0])
    for n in range(8000):
        throttle.record(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    assert len(throttle) == 1000
    for _ in range(10):
        throttle.record("192.0.2.1")
    with pytest.raises(QuotaExceeded) as refused:
        throttle.record("192.0.2.1")
    assert refused.value.retry_after == 60
    now[0] = 61.0
    throttle.record("192.0.2.2")  # the expired entries go as the table is used
    assert len(throttle) == 1
    throttle.record("192.0.2.1")  # and the address that waited starts afresh


def test_ipv6_addresses_are_counted_by_their_64_and_memory_stays_small() -> None:
    throttle = FailedSignIns(2, window=60.0)
    throttle.record("2001:db8:1:2::1")
    throttle.record("2001:db8:1:2::ffff")
    with pytest.raises(QuotaExceeded, match="2001:db8:1:2::/64"):
        throttle.record("2001:db8:1:2:abcd::7")
    throttle.record("2001:db8:1:3::1")  # the next /64 is someone else

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        fresh = FailedSignIns(10, window=60.0)
        for n in range(8000):
            fresh.record(f"10.0.{n // 256}.{n % 256}")
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert used < 3 * 2**20, f"{used / 2**20:.1f} MiB for 8,000 addresses"


# -- 2. host names ------------------------------------------------------------------------------


def test_a_rebound_host_name_is_refused_on_an_open_server(tmp_path: Path) -> None:
    with serving(tmp_path, keys=False) as (server, _):
        evil = f"evil.test:{port_of(server)}"
        rebound = httpx.Client(
            base_url=server.url, headers={"Host": evil, "Origin": f"http://{evil}"}, timeout=PATIENCE
        )
        submitted = submit(rebound)
        assert submitted.status_code == 400 and "QIE_ALLOWED_HOSTS" in submitted.json()["detail"]
        listed = rebound.get("/api/jobs")
        assert listed.status_code == 400 and "evil.test" in listed.json()["detail"]
        assert rebound.get("/").status_code == 400
        with pytest.raises(InvalidStatus):
            socket_as(server, "evil.test", "/ws", additional_headers={"Origin": f"http://{evil}"})
        # probes by address still answer; our own names work, the page's socket too
        assert rebound.get("/api/health").status_code == 200
        for name in ("127.0.0.1", "localhost", "[::1]"):
            own = f"{name}:{port_of(server)}"
            mine = httpx.Client(base_url=server.url, headers={"Host": own, "Origin": f"http://{own}"})
            assert submit(mine).status_code == 202, name
        with socket_as(server, "127.0.0.1", "/ws", additional_headers={"Origin": server.url}) as watcher:
            assert watcher.recv(timeout=PATIENCE)


def test_the_origin_check_compares_with_our_names_not_with_a_forwarded_host(tmp_path: Path) -> None:
    with serving(tmp_path, keys=True) as (server, key), httpx.Client(base_url=server.url) as browser:
        assert browser.post("/api/session", json={"key": key}).status_code == 200
        job_id = submit(browser, num_inference_steps=2).json()["job_id"]
        wait_for(browser, job_id, {"complete"})
        evil = f"evil.test:{port_of(server)}"
        headers = {"X-Forwarded-Host": evil, "Origin": f"http://{evil}"}
        refused = browser.post(f"/api/jobs/{job_id}/cancel", headers=headers)
        assert refused.status_code == 403 and "QIE_CORS_ORIGINS" in refused.json()["detail"]
        assert browser.post(f"/api/jobs/{job_id}/cancel", headers={"Origin": server.url}).status_code == 409


def test_a_public_bind_answers_the_names_the_operator_lists(tmp_path: Path) -> None:
    """`qie serve --host 0.0.0.0` with keys and QIE_ALLOWED_HOSTS=gpu.example.com,*.lan"""
    with serving(tmp_path, keys=True, host="0.0.0.0", allowed_hosts="gpu.example.com,*.lan") as (server, key):
        for name in ("gpu.example.com", "box.lan", "GPU.example.com"):
            own = f"{name}:{port_of(server)}"
            page = {"Host": own, "Origin": f"http://{own}"}
            with httpx.Client(base_url=server.url, headers=page, timeout=PATIENCE) as browser:
                assert browser.post("/api/session", json={"key": key}).status_code == 200, name
                assert submit(browser).status_code == 202, name
                cookie = f"{SESSION_COOKIE}={browser.cookies[SESSION_COOKIE]}"
            headers = {"Cookie": cookie, "Origin": f"http://{own}"}
            with socket_as(server, name, "/ws", additional_headers=headers) as watcher:
                assert watcher.recv(timeout=PATIENCE)
        other = httpx.get(
            f"{server.url}/api/jobs",
            headers={"Host": "elsewhere.test", "Authorization": f"Bearer {key}"},
            timeout=PATIENCE,
        )
        assert other.status_code == 400 and "QIE_ALLOWED_HOSTS" in other.json()["detail"]


def test_host_and_proxy_settings_refuse_what_they_cannot_mean(tmp_path: Path) -> None:
    for wrong in ({"allowed_hosts": "http://gpu.example.com"}, {"allowed_hosts": "gpu.example.com:8002"},
                  {"trusted_proxies": "nginx"}):  # fmt: skip
        with pytest.raises(ValidationError):
            Settings(data_dir=tmp_path, **wrong)
    settings = Settings(data_dir=tmp_path, allowed_hosts="Gpu.Example.com,[::1]", trusted_proxies="10.0.0.0/8")
    assert settings.answered_hosts == {"127.0.0.1", "localhost", "::1", "gpu.example.com"}
    assert settings.trusted_proxies == ["10.0.0.0/8"]
