"""`make bench-stalled`: what 2,000 stalled connections cost the server (issue 19, point 4). A measurement, not a
test.

Against a fresh `qie serve` subprocess (fake engine, in-process worker off) on a free port, it opens N
connections at once, alternating two kinds of slow client:
- header drip: a request line, then one header line every DRIP seconds, never the blank line that ends them;
- body drip: whole headers of an upload declaring 1 MB, then one body byte every DRIP seconds.
The default DRIP, 20 s, is under the 30 s body stall timer, so only an overall deadline ends a body drip.
It reports the server's open file descriptors (/proc/<pid>/fd) before, at peak, and once every connection
was answered or closed (or --wait seconds passed), and how each connection ended.

To measure another version of the server, put its source first on PYTHONPATH (the benchmark itself imports
nothing from the package), e.g. the commit before a change:
    git worktree add --detach /tmp/before <commit>
    PYTHONPATH=/tmp/before/src .venv/bin/python -m benchmarks.stalled_connections --wait 180
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.serving import add_settings_option, qie_serve, settings_of

console = Console(width=160)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def raise_open_file_limit(needed: int) -> int:
    """The soft RLIMIT_NOFILE up to the hard one (the server inherits it); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed and soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < needed:
        console.print(f"[yellow]note:[/] the open-file limit ({soft}) is under the {needed} this needs")
    return soft


async def stalled_client(port: int, kind: str, drip: float, give_up: float) -> str:
    """One slow client; how it ended: `408`, `503` (any status), `closed` (no answer), `reset`, or `open`."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        return f"refused ({exc.__class__.__name__})"
    host = f"Host: 127.0.0.1:{port}\r\n"
    if kind == "headers":
        first, drop = f"POST /api/edit HTTP/1.1\r\n{host}".encode(), b"X-Drip: x\r\n"
    else:
        boundary = uuid.uuid4().hex
        first = (
            f"POST /api/edit HTTP/1.1\r\n{host}Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: 1000000\r\n\r\n--{boundary}\r\n"
            'Content-Disposition: form-data; name="image1"; filename="a.png"\r\n\r\n'
        ).encode()
        drop = b"x"
    try:
        writer.write(first)
        answer = asyncio.ensure_future(reader.read(64))
        while True:
            done, _ = await asyncio.wait({answer}, timeout=min(drip, max(give_up - time.monotonic(), 0)))
            if done:
                head = answer.result()
                return head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/1.1 ") else "closed"
            if time.monotonic() >= give_up:
                answer.cancel()
                return "open"
            writer.write(drop)
            await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        return "reset"
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def measure(pid: int, port: int, count: int, drip: float, wait: float) -> dict[str, object]:
    start = open_fds(pid)
    give_up = time.monotonic() + wait
    began = time.monotonic()
    clients = [
        asyncio.ensure_future(stalled_client(port, "headers" if i % 2 == 0 else "body", drip, give_up))
        for i in range(count)
    ]
    peak, peak_at = start, 0.0
    # Until the server has ended every connection, or just before the clients give up (and close their own).
    while not all(client.done() for client in clients) and time.monotonic() < give_up - 1:
        now = open_fds(pid)
        if now > peak:
            peak, peak_at = now, time.monotonic() - began
        await asyncio.sleep(0.25)
    seconds = time.monotonic() - began
    if all(client.done() for client in clients):
        await asyncio.sleep(1)  # the server's own closes complete
    after = open_fds(pid)
    outcomes = list(await asyncio.gather(*clients))
    return {
        "start": start,
        "peak": peak,
        "peak_at": peak_at,
        "after": after,
        "seconds": seconds,
        "headers": Counter(outcomes[0::2]),
        "body": Counter(outcomes[1::2]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=2000, help="Stalled connections, half of each kind.")
    parser.add_argument("--drip", type=float, default=20.0, help="Seconds between two drops of one client.")
    parser.add_argument("--wait", type=float, default=300.0, help="The longest a client waits for its end.")
    add_settings_option(parser, "QIE_BODY_DEADLINE_SECONDS=30")
    args = parser.parse_args()
    raise_open_file_limit(args.connections * 2 + 200)  # our sockets and the server's
    env = {
        "QIE_MODEL": "fake",
        "QIE_WORKER_ENABLED": "false",
        "QIE_RETENTION_HOURS": "0",
        **settings_of(args),
    }
    with tempfile.TemporaryDirectory() as folder, qie_serve(Path(folder) / "data", env, timeout=120) as running:
        process, port, http = running
        http.get("/api/health").raise_for_status()
        console.print(f"{args.connections} stalled connections against pid {process.pid}, a drop every {args.drip:g}s")
        result = asyncio.run(measure(process.pid, port, args.connections, args.drip, args.wait))
    table = Table(title="qie bench-stalled (fake engine, worker off)")
    table.add_column("figure")
    table.add_column("value")
    table.add_row("server settings", " ".join(args.env) or "defaults")
    table.add_row(
        "server fds: start -> peak -> after",
        f"{result['start']} -> {result['peak']} (at {result['peak_at']:.0f}s) -> {result['after']}",
    )
    table.add_row(
        "seconds until the server ended every connection (or the clients gave up)", f"{result['seconds']:.0f}"
    )
    for kind in ("headers", "body"):
        tally = result[kind]
        assert isinstance(tally, Counter)
        table.add_row(
            f"{kind} drip ({sum(tally.values())}): how they ended",
            ", ".join(f"{n}x {outcome}" for outcome, n in sorted(tally.items())),
        )
    console.print(table)


if __name__ == "__main__":
    main()
