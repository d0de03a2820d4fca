"""A claimed job's lease, kept alive from its claim until its outcome is recorded, whatever stage it is in."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from qwen_image_editor.store.base import JobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerTiming:
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    poll_seconds: float = 1.0  # an idle worker looks for work this often even when nothing woke it
    max_attempts: int = 2


class Heartbeat:
    """Renews the job's lease in the background; notices when the lease was lost to another worker."""

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        worker_id: str,
        timing: WorkerTiming,
        on_beat: Callable[[], None],
        held: set[str] | None = None,
    ) -> None:
        self._store, self._job_id, self._worker_id, self._timing = store, job_id, worker_id, timing
        self._on_beat = on_beat
        # The worker's jobs whose heartbeat runs: its own recovery leaves them alone, even with lapsed leases.
        self._held = held if held is not None else set()
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id[:8]}", daemon=True)

    def start(self) -> Heartbeat:
        self._held.add(self._job_id)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._held.discard(self._job_id)
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._timing.heartbeat_seconds):
            try:
                if not self._store.renew_lease(self._job_id, self._worker_id, self._timing.lease_seconds):
                    self.lost.set()
                    return
                self._on_beat()
            except Exception:  # a database hiccup; the lease has slack for the next beat
                log.warning("lease renewal for job %s failed", self._job_id, exc_info=True)


def then_stop(task: Callable[[], None], heartbeat: Heartbeat) -> Callable[[], None]:
    """`task`, then let the job's lease go (whether or not `task` failed)."""

    def run() -> None:
        try:
            task()
        finally:
            heartbeat.stop()

    return run
