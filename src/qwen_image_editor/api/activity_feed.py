"""What every `/ws` watcher of a process is sent, read once per change and fanned out per owner.

One task per process (while anyone watches) hears every job's events and, at each change (or after
`resync_seconds` of silence), reads the active jobs once; each watcher then picks its owner's share. So a
change costs the same few queries whether 1 or 1,000 pages watch, and a new watcher is answered from the last
reading. Each watcher has its own bounded buffer and its own sending task: a slow one delays no other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from qwen_image_editor.api.schemas import ActiveJobsMessage, JobView
from qwen_image_editor.api.views import job_view
from qwen_image_editor.events.local import EVERY_JOB, SUBSCRIBER_BUFFER
from qwen_image_editor.jobs.events import JobChanged, JobProgressed
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.services import Services

log = logging.getLogger(__name__)

ACTIVE = (JobStatus.QUEUED, JobStatus.PROCESSING)
MAX_ACTIVE_LISTED = 200  # per-key queues are capped far below this; admins see the first 200
# The active jobs are read whole when there are at most this many (always, with the default queue cap): the
# queue's positions and length then come from that one reading.
_READ_AT_ONCE = 10_000


@dataclass
class ActiveJobs:
    """Every queued and running job, oldest first (as they run), with their views, and the queue's length."""

    queue_length: int
    views: list[tuple[str | None, JobView]]  # (owner, view)
    _messages: dict[str | None, str] = field(default_factory=dict)

    def ids_for(self, sees: str | None) -> set[str]:
        return {view.job_id for owner, view in self._mine(sees)}

    def message_for(self, sees: str | None) -> str:
        """The `active` message (JSON) for a caller who sees `sees`' jobs (None: everyone's); made once per owner."""
        if sees not in self._messages:
            jobs = [view for _, view in self._mine(sees)]
            message = ActiveJobsMessage(queue_length=self.queue_length, jobs=jobs)
            self._messages[sees] = message.model_dump_json()
        return self._messages[sees]

    def _mine(self, sees: str | None) -> list[tuple[str | None, JobView]]:
        return [item for item in self.views if sees is None or item[0] == sees][:MAX_ACTIVE_LISTED]


@dataclass(frozen=True)
class Update:
    """One thing for a watcher: a job's step, or a change (None: a resync) with the active jobs after it."""

    progressed: JobProgressed | None = None
    changed: JobChanged | None = None
    active: ActiveJobs | None = None


class Watcher:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[Update] = asyncio.Queue(maxsize=SUBSCRIBER_BUFFER)

    def offer(self, update: Update) -> None:
        """A full buffer drops a new step (the next one supersedes it) rather than a change: a page whose state
        changes were pushed out by steps showed one job running after it ended, beside the next. A change at a
        full buffer drops the oldest update (its own `active` message tells the whole state again)."""
        if self._queue.full():
            if update.progressed is not None:
                return
            self._queue.get_nowait()
        self._queue.put_nowait(update)

    async def next_update(self) -> Update:
        return await self._queue.get()


class ActivityFeed:
    """The one reader of active jobs for this process's `/ws` watchers."""

    def __init__(self, services: Services, resync_seconds: float) -> None:
        self.services, self.resync_seconds = services, resync_seconds
        self._watchers: set[Watcher] = set()
        self._task: asyncio.Task[None] | None = None
        self._latest: ActiveJobs | None = None
        self._ready = asyncio.Event()

    @asynccontextmanager
    async def watch(self) -> AsyncIterator[tuple[Watcher, ActiveJobs]]:
        """Join the feed: the watcher and the active jobs as last read (updates follow on the watcher)."""
        watcher = Watcher()
        self._watchers.add(watcher)
        if self._task is None or self._task.done():
            self._latest, self._ready = None, asyncio.Event()
            self._task = asyncio.ensure_future(self._run(self._ready))
        task = self._task
        try:
            await self._ready.wait()
            if task.done():  # the first reading failed: say why, as a watcher reading alone would
                task.result()
            assert self._latest is not None
            yield watcher, self._latest
        finally:
            self._watchers.discard(watcher)
            if not self._watchers and self._task is not None:
                # the last one out stops the reader (at once, so a watcher arriving meanwhile starts a new one)
                stopping, self._task = self._task, None
                stopping.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await stopping

    async def _run(self, ready: asyncio.Event) -> None:
        # Subscribe before the first reading, so that no change falls between the two.
        async with self.services.events.subscribe(EVERY_JOB) as subscription:
            try:
                self._latest = await run_in_threadpool(self._read)
            finally:
                ready.set()
            while True:
                event = await subscription.next_event(self.resync_seconds)
                if isinstance(event, JobProgressed):
                    self._fan_out(Update(progressed=event))
                    continue
                # Any change (or a quiet spell: events are hints) moves the queue: read once, tell everyone.
                try:
                    self._latest = await run_in_threadpool(self._read)
                except Exception:  # the database is away: the next change or quiet spell reads again
                    log.warning("reading the active jobs for /ws failed; trying again shortly", exc_info=True)
                    continue
                self._fan_out(Update(changed=event if isinstance(event, JobChanged) else None, active=self._latest))

    def _fan_out(self, update: Update) -> None:
        for watcher in self._watchers:
            watcher.offer(update)

    def _read(self) -> ActiveJobs:
        jobs, total = self.services.jobs.list(limit=_READ_AT_ONCE, offset=0, status=ACTIVE)
        jobs.reverse()  # oldest first, as they will run
        queued = [job for job in jobs if job.status is JobStatus.QUEUED]
        if total <= len(jobs):
            positions = {job.id: place for place, job in enumerate(queued, start=1)}
            queue_length = len(queued)
        else:  # more than we read: ask the store
            positions = self.services.jobs.queue_positions(jobs)
            queue_length = self.services.jobs.queue_length()
        retention = self.services.settings.retention_hours
        views = [(job.owner, job_view(job, positions.get(job.id), retention_hours=retention)) for job in jobs]
        return ActiveJobs(queue_length=queue_length, views=views)
