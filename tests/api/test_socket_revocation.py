"""Open sockets end with their caller's credentials (issue 19, point 3): revoking a key or signing out closes
that caller's sockets, on every API node, and no one else's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from qwen_image_editor.accounts import Role
from qwen_image_editor.api import credential_watch
from qwen_image_editor.api.access import SESSION_COOKIE
from qwen_image_editor.api.credential_watch import KEY_REVOKED, SESSION_ENDED
from qwen_image_editor.api.schemas import WsCloseCode
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.services import build_access, build_services
from tests.api.conftest import PATIENCE, SMALL_OUTPUT_PIXELS, make_settings, submit
from tests.live_server import LiveServer, live_server
from tests.store.conftest import postgres_url  # noqa: F401 (a fixture)


def sign_in(server: LiveServer, key: str) -> str:
    """A session token, as the page's cookie holds it."""
    with httpx.Client(base_url=server.url, timeout=PATIENCE) as browser:
        assert browser.post("/api/session", json={"key": key}).status_code == 200
        return browser.cookies[SESSION_COOKIE]


@pytest.fixture
def sockets() -> Iterator[ExitStack]:
    """Closes the test's sockets, whatever happens."""
    with ExitStack() as stack:
        yield stack


def open_socket(
    sockets: ExitStack, server: LiveServer, path: str, *, key: str | None = None, session: str | None = None
) -> ClientConnection:
    """A socket that has had its first message, so the server is following it."""
    headers = {"Authorization": f"Bearer {key}"} if key else {"Cookie": f"{SESSION_COOKIE}={session}"}
    socket = sockets.enter_context(connect(server.ws_url + path, open_timeout=PATIENCE, additional_headers=headers))
    json.loads(socket.recv(timeout=PATIENCE))
    return socket


def closed_with(socket: ClientConnection) -> tuple[int | None, str | None]:
    """Read until the server closes the socket (fails after PATIENCE if it does not)."""
    try:
        while True:
            socket.recv(timeout=PATIENCE)
    except ConnectionClosed:
        return socket.close_code, socket.close_reason
    except TimeoutError:
        raise AssertionError(f"the socket was still open after {PATIENCE:g} s") from None


def still_open(socket: ClientConnection, job_id: str) -> bool:
    """The socket still hears the job: it gets the message of the job's next step."""
    try:
        while True:
            message: dict[str, Any] = json.loads(socket.recv(timeout=PATIENCE))
            if message.get("job_id") == job_id:
                return True
    except ConnectionClosed:
        return False


def keyed_services(data_dir: Path, engine: FakeEngine, **settings: Any) -> tuple[Any, dict[str, str]]:
    services = build_services(make_settings(data_dir, **settings), engine=engine)
    secrets = {name: services.access.create_key(name, Role.USER)[1] for name in ("alice", "bob")}
    return services, secrets


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(step_seconds=0.01, output_pixels=SMALL_OUTPUT_PIXELS)


@pytest.fixture
def keyed(tmp_path: Path, engine: FakeEngine) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    services, secrets = keyed_services(tmp_path, engine)
    with live_server(services) as server:
        yield server, secrets


def test_signing_out_closes_that_sessions_sockets_and_no_others(
    keyed: tuple[LiveServer, dict[str, str]], engine: FakeEngine, sockets: ExitStack
) -> None:
    server, secrets = keyed
    gate = engine.hold(before_step=2)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {secrets['alice']}"}) as alice:
        job_id = submit(alice, num_inference_steps=4).json()["job_id"]
        gate.wait_held()
        leaving, staying = sign_in(server, secrets["alice"]), sign_in(server, secrets["alice"])
        feed = open_socket(sockets, server, "/ws", session=leaving)
        job = open_socket(sockets, server, f"/ws/{job_id}", session=leaving)
        other_session = open_socket(sockets, server, f"/ws/{job_id}", session=staying)
        by_key = open_socket(sockets, server, f"/ws/{job_id}", key=secrets["alice"])

        with httpx.Client(base_url=server.url, cookies={SESSION_COOKIE: leaving}) as browser:
            assert browser.delete("/api/session").status_code == 200

        assert closed_with(feed) == (WsCloseCode.NOT_AUTHORISED, SESSION_ENDED)
        assert closed_with(job) == (WsCloseCode.NOT_AUTHORISED, SESSION_ENDED)
        gate.open()
        assert still_open(other_session, job_id)
        assert still_open(by_key, job_id)


def test_a_key_revoked_by_another_process_closes_its_sockets_and_sessions_sockets(
    keyed: tuple[LiveServer, dict[str, str]], sockets: ExitStack
) -> None:
    """`qie keys revoke` runs in a process of its own: on SQLite no one tells the server, which must notice."""
    server, secrets = keyed
    bob_by_key = open_socket(sockets, server, "/ws", key=secrets["bob"])
    bob_by_session = open_socket(sockets, server, "/ws", session=sign_in(server, secrets["bob"]))
    alice = open_socket(sockets, server, "/ws", key=secrets["alice"])

    assert build_access(server.services.settings).revoke("bob")  # its own engine, like the CLI

    assert closed_with(bob_by_key) == (WsCloseCode.NOT_AUTHORISED, KEY_REVOKED)
    assert closed_with(bob_by_session) == (WsCloseCode.NOT_AUTHORISED, SESSION_ENDED)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {secrets['alice']}"}) as http:
        job_id = submit(http, num_inference_steps=2).json()["job_id"]
        assert still_open(alice, job_id)


def test_on_postgresql_every_api_node_closes_its_sockets_when_told(
    tmp_path: Path,
    engine: FakeEngine,
    postgres_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    sockets: ExitStack,
) -> None:
    """Node A signs the session out and `qie keys revoke` revokes a key; node B's sockets close although it
    never polls (its poll is an hour here): only PostgreSQL's notification can have told it."""
    monkeypatch.setattr(credential_watch, "POLL_SECONDS", 3600.0)
    monkeypatch.setattr(credential_watch, "NOTIFIED_POLL_SECONDS", 3600.0)
    node_a, secrets = keyed_services(tmp_path / "a", engine, database_url=postgres_url)
    node_b = build_services(make_settings(tmp_path / "b", database_url=postgres_url, worker_enabled=False))
    with live_server(node_a) as a, live_server(node_b) as b:
        token = sign_in(a, secrets["alice"])
        session_socket = open_socket(sockets, b, "/ws", session=token)
        key_socket = open_socket(sockets, b, "/ws", key=secrets["bob"])

        with httpx.Client(base_url=a.url, cookies={SESSION_COOKIE: token}) as browser:
            assert browser.delete("/api/session").status_code == 200
        assert closed_with(session_socket) == (WsCloseCode.NOT_AUTHORISED, SESSION_ENDED)

        assert build_access(node_a.settings).revoke("bob")
        assert closed_with(key_socket) == (WsCloseCode.NOT_AUTHORISED, KEY_REVOKED)
