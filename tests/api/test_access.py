"""Access (GUARANTEES.md): keys fail closed, owners are isolated, sessions for the page, origins, quotas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from qwen_image_editor.accounts import Role
from qwen_image_editor.api.access import SESSION_COOKIE
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_services
from tests.api.conftest import PATIENCE, SMALL_OUTPUT_PIXELS, make_settings, submit, wait_for
from tests.live_server import LiveServer, live_server

ALLOWED_ORIGIN = "http://localhost:5173"
FOREIGN_ORIGIN = "https://evil.example"
MISSING = "00000000-0000-4000-8000-000000000000"


@dataclass
class Keyed:
    server: LiveServer
    alice: str
    bob: str
    admin: str

    def client(self, key: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=PATIENCE)


def keyed_server(tmp_path: Path, **settings: Any) -> Iterator[Keyed]:
    services = build_services(
        make_settings(tmp_path, cors_origins=[ALLOWED_ORIGIN], **settings),
        engine=FakeEngine(step_seconds=0.01, output_pixels=SMALL_OUTPUT_PIXELS),
    )
    secrets = {name: services.access.create_key(name, role)[1] for name, role in
               (("alice", Role.USER), ("bob", Role.USER), ("root", Role.ADMIN))}  # fmt: skip
    with live_server(services) as server:
        yield Keyed(server, secrets["alice"], secrets["bob"], secrets["root"])


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Keyed]:
    yield from keyed_server(tmp_path)


def ws_messages(url: str, **options: Any) -> tuple[list[dict[str, Any]], int | None]:
    with connect(url, open_timeout=PATIENCE, **options) as socket:
        messages = []
        try:
            while True:
                messages.append(json.loads(socket.recv(timeout=PATIENCE)))
        except ConnectionClosed:
            return messages, socket.close_code


def job_routes(job_id: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"/api/jobs/{job_id}"),
        ("GET", f"/api/jobs/{job_id}/status"),
        ("GET", f"/api/jobs/{job_id}/files/input_1.png"),
        ("GET", f"/api/jobs/{job_id}/files/output_1.png"),
        ("GET", f"/api/jobs/{job_id}/download"),
        ("POST", f"/api/jobs/{job_id}/cancel"),
    ]


# -- fails closed -------------------------------------------------------------------------------


def test_with_keys_every_route_but_health_and_the_page_needs_one(keyed: Keyed) -> None:
    anonymous = keyed.client(None)
    assert anonymous.get("/api/health").status_code == 200
    assert anonymous.get("/api/health").json()["keys_required"] is True
    assert anonymous.get("/").status_code == 200
    for method, path in [
        ("GET", "/api/jobs"),
        ("GET", "/api/limits"),
        ("POST", "/api/edit"),
        ("POST", "/api/cleanup"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        *job_routes(MISSING),
        ("DELETE", f"/api/jobs/{MISSING}"),
    ]:
        response = anonymous.request(method, path)
        assert response.status_code == 401, (method, path, response.text)
        assert "qie keys create" in response.json()["detail"] and "Authorization: Bearer" in response.json()["detail"]
        assert response.headers["www-authenticate"].startswith("Bearer")
    wrong = keyed.client("qie_not-a-real-key").get("/api/jobs")
    assert wrong.status_code == 401 and "not valid" in wrong.json()["detail"]
    by_header = httpx.get(f"{keyed.server.url}/api/jobs", headers={"X-API-Key": keyed.alice})
    assert by_header.status_code == 200


def test_revoking_the_last_key_of_a_public_server_locks_it_rather_than_opening_it(tmp_path: Path) -> None:
    services = build_services(
        make_settings(tmp_path, host="0.0.0.0"), engine=FakeEngine(step_seconds=0.01, output_pixels=SMALL_OUTPUT_PIXELS)
    )
    _, secret = services.access.create_key("only", Role.ADMIN)
    with live_server(services) as server:
        assert server.http.get("/api/jobs", headers={"X-API-Key": secret}).status_code == 200
        assert services.access.revoke("only")
        assert server.http.get("/api/jobs").status_code == 401
        health = server.http.get("/api/health").json()
        assert health["keys_required"] is True and "no API key exists" in health["warning"]


def test_a_socket_without_a_key_is_closed_1008(keyed: Keyed) -> None:
    messages, code = ws_messages(f"{keyed.server.ws_url}/ws/{MISSING}")
    assert messages == [] and code == 1008


def test_repeated_wrong_keys_from_one_address_are_slowed_down(tmp_path: Path) -> None:
    for keyed in keyed_server(tmp_path, failed_sign_ins_per_minute=3):
        guesser = keyed.client("qie_guess")
        assert [guesser.get("/api/jobs").status_code for _ in range(3)] == [401, 401, 401]
        throttled = guesser.get("/api/jobs")
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
        assert "too many wrong keys" in throttled.json()["detail"]
        # only wrong keys wait: a right key from that address (a user behind the same proxy) is served
        assert keyed.client(keyed.alice).get("/api/jobs").status_code == 200
        # public routes still answer it (the page can show why it is waiting)
        assert guesser.get("/api/health").status_code == 200
        assert guesser.post("/api/session", json={"key": "qie_guess"}).status_code == 429


# -- owners ---------------------------------------------------------------------------------------


def test_isolation_matrix_two_owners_and_an_admin(keyed: Keyed) -> None:
    alice, bob, admin = keyed.client(keyed.alice), keyed.client(keyed.bob), keyed.client(keyed.admin)
    mine = submit(alice, num_inference_steps=2).json()["job_id"]
    theirs = submit(bob, num_inference_steps=2).json()["job_id"]
    for job_id in (mine, theirs):
        wait_for(admin, job_id, {"complete"})
    missing = {path: admin.request(method, path.replace(mine, MISSING)) for method, path in job_routes(mine)}

    for method, path in job_routes(mine):
        assert alice.request(method, path).status_code in (200, 409), path  # 409: cancelling a finished job
        assert admin.request(method, path).status_code in (200, 409), path
        foreign = bob.request(method, path)
        absent = missing[path]
        assert foreign.status_code == absent.status_code == 404, path
        assert foreign.json()["detail"].replace(mine, "ID") == absent.json()["detail"].replace(MISSING, "ID"), path

    assert [job["job_id"] for job in alice.get("/api/jobs").json()["jobs"]] == [mine]
    assert [job["job_id"] for job in bob.get("/api/jobs").json()["jobs"]] == [theirs]
    assert {job["job_id"] for job in admin.get("/api/jobs").json()["jobs"]} == {mine, theirs}
    assert alice.get("/api/jobs").json()["total"] == 1

    # the WebSocket: the owner and an admin follow the job, another key hears nothing but 4404
    headers = {"Authorization": f"Bearer {keyed.bob}"}
    assert ws_messages(f"{keyed.server.ws_url}/ws/{mine}", additional_headers=headers) == ([], 4404)
    for key in (keyed.alice, keyed.admin):
        messages, code = ws_messages(f"{keyed.server.ws_url}/ws/{mine}", additional_headers={"X-API-Key": key})
        assert [m["type"] for m in messages] == ["snapshot", "complete"] and code == 1000

    # delete: another key cannot, the owner can
    assert bob.delete(f"/api/jobs/{mine}").status_code == 404
    assert alice.delete(f"/api/jobs/{mine}").status_code == 200
    assert admin.delete(f"/api/jobs/{theirs}").status_code == 200


def test_only_admins_clean_up(keyed: Keyed) -> None:
    refused = keyed.client(keyed.alice).post("/api/cleanup", params={"hours": 0})
    assert refused.status_code == 403 and "--admin" in refused.json()["detail"]
    assert keyed.client(keyed.admin).post("/api/cleanup", params={"hours": 0}).status_code == 200


def test_a_revoked_key_stops_at_once_with_its_sessions(keyed: Keyed) -> None:
    with httpx.Client(base_url=keyed.server.url) as browser:
        assert browser.post("/api/session", json={"key": keyed.bob}).status_code == 200
        assert browser.get("/api/jobs").status_code == 200
        assert keyed.server.services.access.revoke("bob")
        assert browser.get("/api/jobs").status_code == 401
    assert keyed.client(keyed.bob).get("/api/jobs").status_code == 401


# -- sessions for the web page --------------------------------------------------------------------


def test_a_key_is_exchanged_for_a_strict_http_only_session_cookie(keyed: Keyed) -> None:
    with httpx.Client(base_url=keyed.server.url) as browser:
        assert browser.get("/api/session").json() == {
            "keys_required": True, "signed_in": False, "name": None, "admin": False, "expires_at": None,
        }  # fmt: skip
        wrong = browser.post("/api/session", json={"key": "qie_wrong"})
        assert wrong.status_code == 401 and SESSION_COOKIE not in wrong.cookies
        assert "check it for typos" in wrong.json()["detail"]  # said for a person at the sign-in form
        signed = browser.post("/api/session", json={"key": keyed.alice})
        assert signed.status_code == 200 and signed.json()["name"] == "alice" and signed.json()["signed_in"]
        current = browser.get("/api/session").json()
        assert current["signed_in"] and current["expires_at"] == signed.json()["expires_at"] is not None
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        assert keyed.alice not in cookie

        job_id = submit(browser, num_inference_steps=2).json()["job_id"]  # the cookie alone is enough
        job = wait_for(browser, job_id, {"complete"})
        assert browser.get(job["outputs"][0]).status_code == 200
        assert browser.get(f"/api/jobs/{job_id}/download").status_code == 200
        session_cookie = {"Cookie": f"{SESSION_COOKIE}={browser.cookies[SESSION_COOKIE]}"}
        messages, code = ws_messages(f"{keyed.server.ws_url}/ws/{job_id}", additional_headers=session_cookie)
        assert messages[-1]["type"] == "complete" and code == 1000

        assert browser.delete("/api/session").json()["signed_in"] is False
        assert SESSION_COOKIE not in browser.cookies
        assert browser.get("/api/jobs").status_code == 401
        # the old token is dead on the server too, not just forgotten by this browser
        assert httpx.get(f"{keyed.server.url}/api/jobs", headers=session_cookie).status_code == 401


def test_the_cookie_is_secure_behind_an_https_proxy(keyed: Keyed) -> None:
    signed = httpx.post(
        f"{keyed.server.url}/api/session", json={"key": keyed.alice}, headers={"X-Forwarded-Proto": "https"}
    )
    assert "Secure" in signed.headers["set-cookie"]


def test_cookie_requests_and_sockets_from_a_foreign_origin_are_refused(keyed: Keyed) -> None:
    with httpx.Client(base_url=keyed.server.url) as browser:
        browser.post("/api/session", json={"key": keyed.alice})
        job_id = submit(browser, num_inference_steps=2).json()["job_id"]
        wait_for(browser, job_id, {"complete"})
        cookie = f"{SESSION_COOKIE}={browser.cookies[SESSION_COOKIE]}"
        own = keyed.server.url
        foreign_post = browser.post(f"/api/jobs/{job_id}/cancel", headers={"Origin": FOREIGN_ORIGIN})
        assert foreign_post.status_code == 403 and "QIE_CORS_ORIGINS" in foreign_post.json()["detail"]
        assert browser.delete(f"/api/jobs/{job_id}", headers={"Origin": FOREIGN_ORIGIN}).status_code == 403
        assert browser.post(f"/api/jobs/{job_id}/cancel", headers={"Origin": own}).status_code == 409  # ours
        sign_in_elsewhere = httpx.post(
            f"{own}/api/session", json={"key": keyed.alice}, headers={"Origin": FOREIGN_ORIGIN}
        )
        assert sign_in_elsewhere.status_code == 403
        for origin, expected in ((FOREIGN_ORIGIN, 1008), (own, 1000), (ALLOWED_ORIGIN, 1000)):
            headers = {"Cookie": cookie, "Origin": origin}
            _, code = ws_messages(f"{keyed.server.ws_url}/ws/{job_id}", additional_headers=headers)
            assert code == expected, origin


# -- other origins (CORS) -------------------------------------------------------------------------


def test_cors_preflight_answers_listed_origins_only_and_never_star(keyed: Keyed) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = httpx.options(f"{keyed.server.url}/api/edit", headers={"Origin": ALLOWED_ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert allowed.headers["access-control-allow-credentials"] == "true"
    foreign = httpx.options(f"{keyed.server.url}/api/edit", headers={"Origin": FOREIGN_ORIGIN, **preflight})
    assert "access-control-allow-origin" not in foreign.headers
    read = keyed.client(keyed.alice).get("/api/jobs", headers={"Origin": ALLOWED_ORIGIN})
    assert read.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    refused = httpx.get(f"{keyed.server.url}/api/jobs", headers={"Origin": ALLOWED_ORIGIN})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    elsewhere = keyed.client(keyed.alice).get("/api/jobs", headers={"Origin": FOREIGN_ORIGIN})
    assert "access-control-allow-origin" not in elsewhere.headers


def test_an_open_server_takes_edits_from_an_allowed_origin_page(tmp_path: Path) -> None:
    """The original deployment's page, served elsewhere and pointed at us: upload, progress, download."""
    services = build_services(
        make_settings(tmp_path, cors_origins=[ALLOWED_ORIGIN]),
        engine=FakeEngine(0.01, output_pixels=SMALL_OUTPUT_PIXELS),
    )
    with live_server(services) as server:
        page = httpx.Client(base_url=server.url, headers={"Origin": ALLOWED_ORIGIN})
        accepted = submit(page, num_inference_steps=2)
        assert accepted.status_code == 202 and accepted.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        job_id = accepted.json()["job_id"]
        messages, code = ws_messages(f"{server.ws_url}/ws/{job_id}", additional_headers={"Origin": ALLOWED_ORIGIN})
        assert messages[-1]["type"] == "complete" and code == 1000
        download = page.get(f"/api/jobs/{job_id}/download")
        assert download.status_code == 200 and download.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        # a page from anywhere else may not queue work on an open server either
        assert submit(httpx.Client(base_url=server.url, headers={"Origin": FOREIGN_ORIGIN})).status_code == 403


# -- limits per key -------------------------------------------------------------------------------


def test_queued_jobs_per_key_are_capped_with_retry_after(tmp_path: Path) -> None:
    for keyed in keyed_server(tmp_path, max_queued_per_key=2, worker_enabled=False):
        alice = keyed.client(keyed.alice)
        assert [submit(alice).status_code for _ in range(2)] == [202, 202]
        over = submit(alice)
        assert over.status_code == 429 and over.headers["retry-after"] == "30"
        assert "QIE_MAX_QUEUED_PER_KEY" in over.json()["detail"]
        assert submit(keyed.client(keyed.bob)).status_code == 202  # a limit per key, not for everyone


def test_submits_per_minute_per_key_are_capped_with_retry_after(tmp_path: Path) -> None:
    for keyed in keyed_server(tmp_path, submits_per_minute=3):
        alice = keyed.client(keyed.alice)
        for _ in range(3):
            job_id = submit(alice, num_inference_steps=2).json()["job_id"]
            wait_for(alice, job_id, {"complete"})  # none waiting: only the rate counts
        over = submit(alice)
        assert over.status_code == 429 and 1 <= int(over.headers["retry-after"]) <= 60
        assert "QIE_SUBMITS_PER_MINUTE" in over.json()["detail"]


# -- secrets stay secret, the page is locked down -------------------------------------------------


def test_neither_the_database_nor_the_logs_contain_a_key(keyed: Keyed, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    alice = keyed.client(keyed.alice)
    job_id = submit(alice, num_inference_steps=2).json()["job_id"]
    wait_for(alice, job_id, {"complete"})
    token = httpx.post(f"{keyed.server.url}/api/session", json={"key": keyed.bob}).cookies[SESSION_COOKIE]
    database = (keyed.server.services.settings.data_dir / "qie.db").read_bytes()
    wal = keyed.server.services.settings.data_dir / "qie.db-wal"
    stored = database + (wal.read_bytes() if wal.exists() else b"")
    # what the server wrote (the test's own HTTP client logs the headers it receives, cookies included)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("qwen_image_editor", "uvicorn")))
    assert f"job {job_id} complete" in logged  # the server's log lines were captured
    for secret in (keyed.alice, keyed.bob, keyed.admin, token):
        assert secret.encode() not in stored
        assert secret not in logged


def test_the_page_carries_a_strict_content_security_policy(keyed: Keyed) -> None:
    page = httpx.get(f"{keyed.server.url}/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in page.text  # no inline script for the policy to have to allow
