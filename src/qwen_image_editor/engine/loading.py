"""Load-once bookkeeping shared by the engines: a lock, a visible state, and the last failure's reason."""

from __future__ import annotations

import threading
from collections.abc import Callable

from qwen_image_editor.engine.base import ModelState
from qwen_image_editor.errors import ModelUnavailable


class LoadOnce:
    """Runs a load function at most once successfully; callers in other threads wait for it.

    A failed load leaves the state FAILED with a reason, and the next call tries again (the weights may
    have been downloaded meanwhile).
    """

    def __init__(self, model_id: str) -> None:
        self._model_id = model_id
        self._lock = threading.Lock()
        self.state = ModelState.NOT_LOADED
        self.error: str | None = None

    def run(self, load: Callable[[], None]) -> None:
        with self._lock:
            if self.state is ModelState.READY:
                return
            self.state, self.error = ModelState.LOADING, None
            try:
                load()
            except ModelUnavailable as exc:
                self.state, self.error = ModelState.FAILED, str(exc)
                raise
            except Exception as exc:
                self.state, self.error = ModelState.FAILED, f"loading {self._model_id} failed: {exc}"
                raise ModelUnavailable(self.error) from exc
            self.state = ModelState.READY
