"""A worker's name: the same for a service across its restarts, and never held by two live processes.

Workers run as `<name>/<run>`. After a crash, the restarted service gets its name back and so knows which
`processing` jobs were its own: their run is over, and they can be requeued at once instead of after their
lease expires. A name is held through an exclusive lock on `<data>/workers/<name>.lock`, which the kernel
lets go when the process ends, however it ends; by default the name is `<host>-<n>` with the first n free.

Workers on other machines share the database, not that folder: a run records its host (`<name>/<host>:<pid>-
<token>`), and a name that a live run on another host holds, as the store last heard from it, is not free
either. A worker configured with such a name refuses to start, rather than requeue and run again the jobs that
the other one is running.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import secrets
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from qwen_image_editor.errors import QieError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class WorkerNameInUse(QieError, RuntimeError):
    """Another running process on this data directory already works under the configured name."""


@dataclass
class WorkerName:
    name: str
    run: str  # new for each start
    _lock_fd: int | None

    @property
    def worker_id(self) -> str:
        return f"{self.name}/{self.run}"

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def this_host() -> str:
    return _UNSAFE.sub("-", socket.gethostname()).strip("-.")[:48] or "worker"


def claim_worker_name(
    data_dir: Path, configured: str | None = None, held_elsewhere: Callable[[str], str | None] = lambda name: None
) -> WorkerName:
    """The configured name (WorkerNameInUse if a live process holds it, here or, by `held_elsewhere`, on
    another host), else `<host>-<n>` for the first n that no live process holds.

    `held_elsewhere(name)`: the worker id of a live run under `name` on another host, or None."""
    folder = data_dir / "workers"
    folder.mkdir(parents=True, exist_ok=True)
    host = this_host()
    run = f"{host}:{os.getpid()}-{secrets.token_hex(3)}"
    candidates = [configured] if configured else (f"{host}-{n}" for n in itertools.count(1))
    for name in candidates:
        fd = _lock(folder / f"{name}.lock")
        if fd is None:
            continue
        holder = held_elsewhere(name)
        if holder is None:
            return WorkerName(name, run, fd)
        os.close(fd)
        if configured:
            raise WorkerNameInUse(
                f"worker {holder!r}, on another machine and alive as the database last heard, works as "
                f"{configured!r}; give each worker its own QIE_WORKER_NAME, or leave it unset to get a free one"
            )
    raise WorkerNameInUse(
        f"another running process on {data_dir} works as {configured!r}; give each worker its own "
        "QIE_WORKER_NAME, or leave it unset to get a free one"
    )


def live_run_elsewhere(name: str, live: Iterable[str], host: str) -> str | None:
    """Of the worker ids heard from lately (`live`), one under `name` whose run is on another host than `host`.
    (On this host the name's lock tells; runs of older versions, which record no host, can't be told.)"""
    for worker_id in live:
        worker_name, _, run = worker_id.partition("/")
        run_host, separator, _ = run.rpartition(":")
        if worker_name == name and separator and run_host != host:
            return worker_id
    return None


def _lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
