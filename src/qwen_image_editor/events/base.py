"""The event bus interface: workers publish from any thread; WebSocket handlers subscribe on the event loop."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from qwen_image_editor.jobs.events import JobEvent

# Events are hints: one from another process is lost while the database connection is down, and a queued job's
# position changes without events of its own. Whoever follows a job re-reads the store after this long without
# an event for it.
RESYNC_SECONDS = 2.0


@dataclass(frozen=True)
class EventStats:
    """What a bus that crosses processes has done since it started (for `/metrics`)."""

    sent: int  # events handed to the other processes
    dropped: int  # events that could not be sent (each alone) or that a full outbox pushed out
    listening: bool | None  # whether it hears the other processes now; None when it does not listen


class Subscription(Protocol):
    async def next_event(self, timeout: float) -> JobEvent | None:
        """The next event for the job, or None after `timeout` seconds without one."""
        ...


class EventBus(Protocol):
    def publish(self, event: JobEvent) -> None:
        """Deliver to every subscriber of `event.job_id`; never blocks the caller, from any thread."""
        ...

    def subscribe(self, job_id: str) -> AbstractAsyncContextManager[Subscription]:
        """Receive the job's events while the context is open; `EVERY_JOB` ("*") receives every job's."""
        ...

    def stats(self) -> EventStats | None:
        """What crossed to other processes, for `/metrics`; None for a bus that stays in its process."""
        ...
