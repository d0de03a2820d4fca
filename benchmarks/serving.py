"""A real `qie serve` subprocess on a free port, for the benchmarks that measure what a client sees."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx


def add_settings_option(parser: argparse.ArgumentParser, example: str) -> None:
    """`--env QIE_NAME=VALUE` (repeatable): server settings other than the shipped defaults; read by `settings_of`."""
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="QIE_NAME=VALUE",
        help=f"A server setting, e.g. {example} (repeatable). Default: the shipped defaults.",
    )


def settings_of(args: argparse.Namespace) -> dict[str, str]:
    """The `--env` settings as environment variables."""
    return dict(item.split("=", 1) for item in args.env)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def qie_serve(
    data_dir: Path,
    env: dict[str, str],
    *,
    output: IO[bytes] | int = subprocess.DEVNULL,
    timeout: float = 60,
    args: Sequence[str] = (),
) -> Iterator[tuple[subprocess.Popen[bytes], int, httpx.Client]]:
    """The server process (`args` add to its command line), its port and a client for it, once `/api/health`
    answers; stopped on exit."""
    port = free_port()
    process = subprocess.Popen(
        [Path(sys.executable).parent / "qie", "serve", "--data-dir", str(data_dir), "--port", str(port), *args],
        env={**os.environ, **env},
        stdout=output,
        stderr=subprocess.STDOUT if output is not subprocess.DEVNULL else subprocess.DEVNULL,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=timeout)
    try:
        for _ in range(600):
            try:
                client.get("/api/health")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield process, port, client
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:  # still busy with connections it failed to let go
            process.kill()
            process.wait(15)
