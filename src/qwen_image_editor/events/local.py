"""In-process event bus: worker threads hand events to the event loop with `call_soon_threadsafe`."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from qwen_image_editor.events.base import EventStats
from qwen_image_editor.jobs.events import JobEvent

# A subscriber that falls this far behind loses its oldest progress updates, never the final message.
SUBSCRIBER_BUFFER = 64
# Subscribing to this "job id" hears every job's events (the page's strip of active jobs).
EVERY_JOB = "*"


class _LocalSubscription:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[JobEvent] = asyncio.Queue(maxsize=SUBSCRIBER_BUFFER)

    def offer(self, event: JobEvent) -> None:
        """Runs on the subscriber's loop. A full buffer drops its oldest event to make room."""
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(event)

    async def next_event(self, timeout: float) -> JobEvent | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class LocalEventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[_LocalSubscription]] = defaultdict(set)
        self._lock = threading.Lock()

    def publish(self, event: JobEvent) -> None:
        with self._lock:
            subscribers = [*self._subscribers.get(event.job_id, ()), *self._subscribers.get(EVERY_JOB, ())]
        for subscription in subscribers:
            with contextlib.suppress(RuntimeError):  # that loop has closed; its subscription is going away
                subscription.loop.call_soon_threadsafe(subscription.offer, event)

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[_LocalSubscription]:
        subscription = _LocalSubscription(asyncio.get_running_loop())
        with self._lock:
            self._subscribers[job_id].add(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                self._subscribers[job_id].discard(subscription)
                if not self._subscribers[job_id]:
                    del self._subscribers[job_id]

    def start(self, *, listen: bool) -> None:
        """Nothing to run: events stay in this process (the same calls as `PostgresEventBus`)."""

    def stop(self) -> None:
        """Nothing to stop."""

    def subscriber_count(self, job_id: str) -> int:
        with self._lock:
            return len(self._subscribers.get(job_id, ()))

    def stats(self) -> EventStats | None:
        """None: nothing crosses processes."""
        return None
