"""One thread that does, in the order given, what the model thread hands it."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from qwen_image_editor.errors import StorageFull

log = logging.getLogger(__name__)


class Recorder:
    """One thread that does, in the order given, what the model thread hands it: job outcomes (or, as the
    worker's progress reporter, progress updates)."""

    def __init__(self, name: str) -> None:
        self._tasks: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, task: Callable[[], None]) -> None:
        self._tasks.put(task)

    def flush(self) -> None:
        """Wait until everything handed over so far is done."""
        done = threading.Event()
        self._tasks.put(done.set)
        done.wait()

    def close(self) -> None:
        """Do everything handed over so far, then stop."""
        self._tasks.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (task := self._tasks.get()) is not None:
            try:
                task()
            except StorageFull:  # no traceback for each step while the disk stays full
                log.warning("worker: a job's progress or outcome is not recorded: the disk is full")
            except Exception:  # one record that failed must not stop the others
                log.exception("worker: recording a job's progress or outcome failed")
