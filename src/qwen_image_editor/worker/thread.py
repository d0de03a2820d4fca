"""The in-process worker: a daemon thread inside `qie serve` running `Worker.run_forever`."""

from __future__ import annotations

import threading

from qwen_image_editor.worker.runner import Worker


class WorkerThread:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=worker.run_forever, args=(self._stop,), name="qie-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the loop; a running job stops at its next step and returns to the queue for the next start."""
        self.worker.request_shutdown()
        self._stop.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
