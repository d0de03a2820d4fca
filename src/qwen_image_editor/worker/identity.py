"""A worker's name: the same for a service across its restarts, and never held by two live processes.

Workers run as `<name>/<run>`. After a crash, the restarted service gets its name back and so knows which
`processing` jobs were its own: their run is over, and they can be requeued at once instead of after their
lease expires. A name is held through an exclusive lock on `<data>/workers/<name>.lock`, which the kernel
lets go when the process ends, however it ends; by default the name is `<host>-<n>` with the first n free.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import secrets
import socket
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


def claim_worker_name(data_dir: Path, configured: str | None = None) -> WorkerName:
    """The configured name (WorkerNameInUse if a live process holds it), else `<host>-<n>` for the first n
    that no live process holds."""
    folder = data_dir / "workers"
    folder.mkdir(parents=True, exist_ok=True)
    run = f"{os.getpid()}-{secrets.token_hex(3)}"
    host = _UNSAFE.sub("-", socket.gethostname()).strip("-.")[:48] or "worker"
    candidates = [configured] if configured else (f"{host}-{n}" for n in itertools.count(1))
    for name in candidates:
        fd = _lock(folder / f"{name}.lock")
        if fd is not None:
            return WorkerName(name, run, fd)
    raise WorkerNameInUse(
        f"another running process on {data_dir} works as {configured!r}; give each worker its own "
        "QIE_WORKER_NAME, or leave it unset to get a free one"
    )


def _lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
