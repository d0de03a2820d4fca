"""What the GPU workers are doing, as an API node that runs no model of its own tells it: from what every
worker process records in the store at each heartbeat (`Worker._announce`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from qwen_image_editor.engine.base import ModelState
from qwen_image_editor.jobs.records import WorkerPresence
from qwen_image_editor.store.base import JobStore

# A worker unheard of for this long (or three heartbeats, if longer) has stopped or died.
PRESENCE_SECONDS = 60.0
# The state an API node shows for several workers: the most useful one any of them is in.
_BEST_FIRST = (ModelState.READY, ModelState.LOADING, ModelState.NOT_LOADED, ModelState.FAILED)


@dataclass(frozen=True)
class WorkersModel:
    """The model as the live workers have it, summed up for one line of the page's header."""

    count: int
    model: str
    state: ModelState
    error: str | None
    device: str


def live_workers(store: JobStore, heartbeat_seconds: float, now: datetime | None = None) -> list[WorkerPresence]:
    window = max(PRESENCE_SECONDS, 3 * heartbeat_seconds)
    return store.workers_seen_since((now or datetime.now(UTC)) - timedelta(seconds=window))


def workers_model(workers: list[WorkerPresence]) -> WorkersModel | None:
    """None when no worker is live."""
    if not workers:
        return None
    states = {ModelState(worker.model_state) for worker in workers}
    state = next(candidate for candidate in _BEST_FIRST if candidate in states)
    failed = [
        worker.model_error for worker in workers if worker.model_state == ModelState.FAILED and worker.model_error
    ]
    return WorkersModel(
        count=len(workers),
        model=", ".join(sorted({worker.model for worker in workers})),
        state=state,
        error=failed[0] if state is ModelState.FAILED and failed else None,
        device=", ".join(sorted({worker.device for worker in workers})),
    )
