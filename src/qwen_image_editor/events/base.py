"""The event bus interface: workers publish from any thread; WebSocket handlers subscribe on the event loop."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from qwen_image_editor.jobs.events import JobEvent


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
