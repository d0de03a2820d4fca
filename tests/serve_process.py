"""`qie serve` as a real process, for the tests that kill, restart or inspect one: started, and waited on until
it answers HTTP; a process that exits before then fails the test at once with where its log is."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).parent.parent


def wait_until_answering(process: subprocess.Popen[bytes] | subprocess.Popen[str], url: str, patience: float) -> None:
    """Until `url` answers with any status (the server is up; what it says is the caller's to check)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            httpx.get(url, timeout=10)
            return
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"qie serve exited with {process.returncode} before it answered {url}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"qie serve did not answer {url} within {patience:g} s")
        time.sleep(0.1)


@contextmanager
def serve_process(
    command: Sequence[str | Path], *, port: int, env: Mapping[str, str], log: Path, patience: float
) -> Iterator[subprocess.Popen[bytes]]:
    """`command` (a `qie serve` on 127.0.0.1:`port`) with its output appended to `log`, once it answers; stopped
    (SIGTERM, then waited on) on the way out unless the test already killed it."""
    with open(log, "ab") as output:
        process = subprocess.Popen(list(command), env=dict(env), stdout=output, stderr=output, cwd=ROOT)
        try:
            try:
                wait_until_answering(process, f"http://127.0.0.1:{port}/api/health", patience)
            except RuntimeError as failure:
                raise RuntimeError(f"{failure}; see {log}") from None
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(patience)
