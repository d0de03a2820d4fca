"""The next job, claimed and prepared on a thread of its own while the current edit runs its last steps."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from qwen_image_editor.worker.prepare import Prepared

log = logging.getLogger(__name__)


class Prefetcher:
    """Prepares the next job on its own thread when asked; the model thread takes it when it is free."""

    def __init__(self, prepare: Callable[[], Prepared | None]) -> None:
        self._prepare = prepare
        self._wanted, self._ready = threading.Event(), threading.Event()
        self._requested = False  # read and written by the model thread only
        self._closing = False
        self._slot: Prepared | None = None
        self._thread = threading.Thread(target=self._run, name="qie-prepare", daemon=True)
        self._thread.start()

    def request(self) -> None:
        if not self._requested:
            self._requested = True
            self._ready.clear()
            self._wanted.set()

    def take(self) -> Prepared | None:
        """The prepared job (waiting for a preparation under way); None if none was asked for or found."""
        if not self._requested:
            return None
        self._ready.wait()
        self._requested = False
        prepared, self._slot = self._slot, None
        return prepared

    def close(self) -> Prepared | None:
        """Stop; returns a job that was prepared but never taken, for the caller to hand back."""
        leftover = self.take()
        self._closing = True
        self._wanted.set()
        self._thread.join()
        return leftover

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._closing:
                return
            try:
                self._slot = self._prepare()
            except Exception:  # the store is unreachable or similar: the model thread will try again itself
                log.exception("worker: preparing the next job failed")
                self._slot = None
            finally:
                self._ready.set()
