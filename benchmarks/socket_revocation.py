"""`python -m benchmarks.socket_revocation`: how long a signed-out or revoked caller's live sockets stay open, as
the client sees it (issue 19, point 3: within 2 s, on every API node).

Real `qie serve` processes: on SQLite one node, revoked by `qie keys revoke` (another process, which cannot tell
the server); on PostgreSQL two nodes, signed out on one while the socket is on the other, and revoked by
`qie keys revoke`. Each case is measured several times from the moment the sign-out (or revoke) returned to the
moment the socket's close frame arrived.
"""

from __future__ import annotations

import functools
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from benchmarks.serving import qie_serve

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
QIE = Path(sys.executable).parent / "qie"
ROUNDS = 5


def keys(env: dict[str, str], data_dir: Path, *args: str) -> str:
    command = [str(QIE), "keys", *args, "--data-dir", str(data_dir)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def seconds_until_closed(port: int, headers: dict[str, str], end_credential: Callable[[], object]) -> float:
    """From the moment `end_credential` returned (the sign-out answered, `qie keys revoke` exited) to the close
    frame; 0 when the socket had closed before it returned."""
    with connect(f"ws://127.0.0.1:{port}/ws", additional_headers=headers, open_timeout=30) as socket:
        socket.recv(timeout=30)  # the first message: the server follows the socket
        end_credential()
        ended = time.perf_counter()
        try:
            while True:
                socket.recv(timeout=30)
        except TimeoutError:
            return float("inf")  # still open after 30 s
        except ConnectionClosed:
            return time.perf_counter() - ended


def sqlite_revoke(console: Console) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        data_dir, env = Path(folder), {"QIE_MODEL": "fake"}
        keys(env, data_dir, "create", "root", "--admin")
        with qie_serve(data_dir, env) as (_, port, _client):
            times = []
            for round_ in range(ROUNDS):
                secret = keys(env, data_dir, "create", f"user{round_}")
                times.append(
                    seconds_until_closed(
                        port,
                        {"Authorization": f"Bearer {secret}"},
                        functools.partial(keys, env, data_dir, "revoke", f"user{round_}"),
                    )
                )
            return times


def postgres_nodes(console: Console) -> tuple[list[float], list[float]]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    try:
        with tempfile.TemporaryDirectory() as folder:
            env = {"QIE_MODEL": "fake", "QIE_DATABASE_URL": url}
            root = Path(folder)
            keys(env, root / "a", "create", "root", "--admin")
            with (
                qie_serve(root / "a", env) as (_, _port_a, node_a),
                qie_serve(root / "b", env, args=["--no-worker"]) as (_, port_b, _),
            ):
                sign_outs, revokes = [], []
                for round_ in range(ROUNDS):
                    secret = keys(env, root / "a", "create", f"user{round_}")
                    token = node_a.post("/api/session", json={"key": secret}).cookies["qie_session"]

                    def sign_out(token: str = token) -> None:
                        node_a.delete("/api/session", cookies={"qie_session": token}).raise_for_status()

                    sign_outs.append(seconds_until_closed(port_b, {"Cookie": f"qie_session={token}"}, sign_out))
                    revokes.append(
                        seconds_until_closed(
                            port_b,
                            {"Authorization": f"Bearer {secret}"},
                            functools.partial(keys, env, root / "a", "revoke", f"user{round_}"),
                        )
                    )
                return sign_outs, revokes
    finally:
        with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> int:
    console = Console()
    table = Table(title=f"Seconds from the end of a credential to its socket's close ({ROUNDS} rounds)")
    for column in ("case", "median", "max"):
        table.add_column(column)
    cases = {"SQLite, one node: qie keys revoke": sqlite_revoke(console)}
    try:
        sign_outs, revokes = postgres_nodes(console)
        cases["PostgreSQL, other node: sign-out"] = sign_outs
        cases["PostgreSQL, other node: qie keys revoke"] = revokes
    except (httpx.HTTPError, OSError) as exc:
        console.print(f"PostgreSQL cases skipped: {exc}")
    for name, times in cases.items():
        table.add_row(name, f"{statistics.median(times):.2f}", f"{max(times):.2f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
