"""The worker's stages on a real SQLite store with a fake engine: the model never waits for preparing or finishing,
and previews ride on the events."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qwen_image_editor.blobs.local import LocalBlobStore
from qwen_image_editor.edit_request import EditRequest, OutputFormat
from qwen_image_editor.engine.base import StepProgress
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.jobs.events import JobProgressed
from qwen_image_editor.jobs.records import Job, Progress
from qwen_image_editor.jobs.states import JobStatus
from tests.api.conftest import SMALL_OUTPUT_PIXELS
from tests.test_worker import PATIENCE, Setup


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path, FakeEngine(step_seconds=0.001, output_pixels=SMALL_OUTPUT_PIXELS))


# -- stages: the model never waits for preparing or finishing -----------------------------------


class _WaitingBlobs(LocalBlobStore):
    """Saving the first result waits until the model has started the next edit: only a worker whose
    finishing overlaps the next edit gets past it."""

    def __init__(self, root: Path, next_edit_started: threading.Event) -> None:
        super().__init__(root)
        self.next_edit_started = next_edit_started
        self.overlapped: list[bool] = []

    def save_output(
        self, job_id: str, image: Image.Image, output_format: OutputFormat, index: int = 1, settings: Any = None
    ) -> str:
        if not self.overlapped:
            self.overlapped.append(self.next_edit_started.wait(PATIENCE))
        return super().save_output(job_id, image, output_format, index, settings)


def test_the_next_job_is_claimed_before_and_finished_after_the_model_runs_it(tmp_path: Path) -> None:
    setup = Setup(tmp_path, FakeEngine(step_seconds=0.01, output_pixels=SMALL_OUTPUT_PIXELS))
    second_edit = threading.Event()
    setup.blobs = setup.worker.blobs = _WaitingBlobs(tmp_path / "jobs", second_edit)
    first, second = setup.queue(prompt="first", steps=4), setup.queue(prompt="second", steps=4)
    real_edit = setup.engine.edit

    def edit(images: list[Image.Image], request: EditRequest, **kwargs: object) -> object:
        if request.prompt == "second":
            second_edit.set()
        return real_edit(images, request, **kwargs)  # type: ignore[arg-type]

    setup.engine.edit = edit  # type: ignore[assignment,method-assign]
    assert setup.worker.run_until_idle() == 2
    done = [setup.store.get_job(job.id) for job in (first, second)]
    assert [job.status for job in done] == [JobStatus.COMPLETE, JobStatus.COMPLETE]
    assert setup.worker.blobs.overlapped == [True]  # type: ignore[attr-defined]
    assert done[1].started_at < done[0].finished_at  # type: ignore[operator]  # claimed while the first ran


def test_a_job_claimed_ahead_is_handed_back_on_shutdown_without_spending_an_attempt(setup: Setup) -> None:
    first, second = setup.queue(steps=2), setup.queue(steps=2)
    original = setup.worker._on_step

    def on_step(job: Job, step: StepProgress) -> None:
        original(job, step)  # on the last step but one: the second job is claimed ahead
        if job.id == first.id and step.step == 2:
            setup.worker.request_shutdown()

    setup.worker._on_step = on_step  # type: ignore[method-assign]
    setup.worker.run_until_idle()
    assert setup.status(first) is JobStatus.COMPLETE  # its edit had ended: it is finished, not dropped
    handed_back = setup.store.get_job(second.id)
    assert handed_back.status is JobStatus.QUEUED and handed_back.attempts == 0
    assert setup.engine.edits_run == 1


def test_a_job_cancelled_while_waiting_for_the_model_never_runs(setup: Setup) -> None:
    first, second = setup.queue(steps=3), setup.queue(steps=3)
    original = setup.worker._on_step

    def on_step(job: Job, step: StepProgress) -> None:
        original(job, step)
        if job.id == first.id and step.step == 3:  # the second one has been claimed ahead by now
            setup.store.request_cancel(second.id)

    setup.worker._on_step = on_step  # type: ignore[method-assign]
    setup.worker.run_until_idle()
    assert setup.status(first) is JobStatus.COMPLETE
    assert setup.status(second) is JobStatus.CANCELLED
    assert setup.engine.edits_run == 1


def test_previews_ride_on_the_events_and_never_reach_the_store(tmp_path: Path) -> None:
    setup = Setup(tmp_path, FakeEngine(step_seconds=0.001, output_pixels=SMALL_OUTPUT_PIXELS))
    published: list[JobProgressed] = []
    setup.worker.lifecycle.events = _Recording(published)  # type: ignore[assignment]
    stored: list[Progress] = []
    real_update = setup.store.update_progress
    setup.store.update_progress = lambda job_id, worker, progress: (  # type: ignore[method-assign]
        stored.append(progress),
        real_update(job_id, worker, progress),
    )[-1]
    setup.queue(steps=3)
    setup.worker.run_until_idle()
    previews = [event.preview for event in published if event.preview is not None]
    assert previews and all(p.media_type == "image/webp" and p.data.startswith(b"RIFF") for p in previews)
    assert stored and all("preview" not in progress.model_dump() for progress in stored)


class _Recording:
    def __init__(self, into: list[JobProgressed]) -> None:
        self.into = into

    def publish(self, event: object) -> None:
        if isinstance(event, JobProgressed):
            self.into.append(event)
