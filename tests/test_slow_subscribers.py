"""GUARANTEES.md, Load / Slow clients, below the API: a subscriber of the event bus that falls behind loses old
progress, never a job's final message (the map of every claim to its tests is tests/test_guarantees.py)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.events.local import SUBSCRIBER_BUFFER, LocalEventBus
from qwen_image_editor.jobs.events import JobChanged, JobEventKind, JobProgressed
from qwen_image_editor.jobs.states import JobStatus
from tests.api.conftest import SMALL_OUTPUT_PIXELS
from tests.test_worker import Setup

# -- Load: slow subscribers -----------------------------------------------------------------------------------


def test_a_subscriber_that_falls_behind_loses_old_progress_never_the_final_message(tmp_path: Path) -> None:
    setup = Setup(tmp_path, FakeEngine(step_seconds=0.001, output_pixels=SMALL_OUTPUT_PIXELS))
    job = setup.queue(steps=3)
    setup.worker.run_until_idle()
    final = setup.store.get_job(job.id)
    steps = 4 * SUBSCRIBER_BUFFER
    template = final.progress
    assert template is not None

    async def fall_behind() -> list[Any]:
        bus = LocalEventBus()
        async with bus.subscribe(job.id) as subscription:
            for step in range(1, steps + 1):  # published, never read meanwhile: the subscriber is stalled
                bus.publish(JobProgressed(job.id, template.model_copy(update={"step": step})))
            bus.publish(JobChanged(JobEventKind.COMPLETE, JobStatus.PROCESSING, final))
            await asyncio.sleep(0)  # one turn of the loop runs the offers the publishes queued
            received = []
            while not subscription.queue.empty():
                received.append(subscription.queue.get_nowait())
            return received

    # On a thread of its own: a browser test earlier in the session may leave this thread's event loop marked running.
    with ThreadPoolExecutor(max_workers=1) as thread:
        received = thread.submit(lambda: asyncio.run(fall_behind())).result()
    assert len(received) == SUBSCRIBER_BUFFER  # bounded: what it missed was dropped, not queued
    assert isinstance(received[-1], JobChanged) and received[-1].kind is JobEventKind.COMPLETE
    kept = [event.progress.step for event in received[:-1] if isinstance(event, JobProgressed)]
    assert kept == list(range(steps - SUBSCRIBER_BUFFER + 2, steps + 1))  # the newest, in order
