"""Orphans are swept: job files left without a record (a process killed while storing a job's inputs) go once
they are an hour old, at start-up and at every sweep, whatever the retention (0, keep every job, included); so
do jobs deleted while they ran that a crash left recorded once they had stopped."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen_image_editor.application.cleanup import RetentionSweeper
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.fake import FakeEngine
from qwen_image_editor.errors import JobNotFound
from qwen_image_editor.jobs.ids import new_job_id
from qwen_image_editor.services import Services, build_services
from tests.api.conftest import PATIENCE, SMALL_OUTPUT_PIXELS, make_settings, png_bytes
from tests.conftest import noise_image

TWO_HOURS = 2 * 3600


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    built = build_services(
        make_settings(tmp_path), engine=FakeEngine(step_seconds=0, output_pixels=SMALL_OUTPUT_PIXELS)
    )
    try:
        yield built
    finally:
        built.close()


def _orphan(services: Services, *, age_seconds: float) -> Path:
    """Job files with no record, as a process killed between storing the inputs and recording the job leaves."""
    job_id = new_job_id()
    services.blobs.save_input(job_id, 1, noise_image(16, 16, 0))
    folder = services.settings.jobs_dir / job_id
    _age(folder, age_seconds)
    return folder


def _age(folder: Path, seconds: float) -> None:
    then = time.time() - seconds
    for path in [*folder.iterdir(), folder]:
        os.utime(path, (then, then))


def _finished_job(services: Services) -> Path:
    import io

    job = services.jobs.submit([io.BytesIO(png_bytes())], EditRequest(prompt="make it blue", num_inference_steps=2))
    services.worker.run_until_idle()
    folder = services.settings.jobs_dir / job.id
    _age(folder, TWO_HOURS)
    return folder


def test_cleanup_removes_only_orphans_an_hour_old(services: Services) -> None:
    old, young, kept = (
        _orphan(services, age_seconds=TWO_HOURS),
        _orphan(services, age_seconds=0),
        _finished_job(services),
    )
    report = services.cleanup.orphans()
    assert report.deleted == [old.name]
    assert not old.exists() and young.exists() and kept.exists()
    assert services.store.get_job(kept.name).status.is_terminal  # retention 0: finished jobs are kept


def test_orphans_are_swept_at_start_up_with_retention_zero(services: Services) -> None:
    assert services.settings.retention_hours == 0
    old, young, kept = (
        _orphan(services, age_seconds=TWO_HOURS),
        _orphan(services, age_seconds=0),
        _finished_job(services),
    )
    services.start_background()
    deadline = time.monotonic() + PATIENCE
    while old.exists():
        assert time.monotonic() < deadline, "the orphan was not swept at start-up"
        time.sleep(0.01)
    sweepers = [part for part in services._background if isinstance(part, RetentionSweeper)]
    while sweepers[0].last_run is None:  # its first sweep has ended: the others were looked at too
        assert time.monotonic() < deadline, "the first sweep never ended"
        time.sleep(0.01)
    assert young.exists() and kept.exists()
    assert services.store.get_job(kept.name).status.is_terminal


def test_a_job_deleted_while_it_ran_goes_at_start_up_after_a_crash_left_it(services: Services) -> None:
    """Its worker recorded its end, then the process was killed before removing it: the record stays hidden
    and marked `deleting`, and the start-up sweep finishes what its DELETE asked, with retention 0."""
    import io

    job = services.jobs.submit([io.BytesIO(png_bytes())], EditRequest(prompt="make it blue", num_inference_steps=2))
    store = services.store
    assert store.claim_next_job("gone/1", 30) is not None
    assert store.delete_or_mark(job.id)[1] is False  # running: marked, going once it stops
    store.mark_cancelled(job.id, "gone/1")  # its end is recorded; the process dies before the record goes
    folder = services.settings.jobs_dir / job.id
    assert store.get_job(job.id).delete_requested and folder.is_dir()

    services.start_background()
    deadline = time.monotonic() + PATIENCE
    while folder.exists() or store.stopped_but_deleted():
        assert time.monotonic() < deadline, "the job deleted while it ran was never removed"
        time.sleep(0.01)
    with pytest.raises(JobNotFound):
        store.get_job(job.id)


def test_a_job_deleted_while_it_ran_goes_once_its_dead_workers_lease_is_recovered(services: Services) -> None:
    """Killed while the deleted job still ran: its lease lapses, recovery ends it cancelled, and it goes."""
    import io

    job = services.jobs.submit([io.BytesIO(png_bytes())], EditRequest(prompt="make it blue", num_inference_steps=2))
    store = services.store
    assert store.claim_next_job("gone/1", 0.001) is not None  # a worker that died at once: its lease lapses
    assert store.delete_or_mark(job.id)[1] is False
    folder = services.settings.jobs_dir / job.id

    services.start_background()  # its worker looks for dead workers' jobs before it claims any
    deadline = time.monotonic() + PATIENCE
    while folder.exists() or store.stopped_but_deleted():
        assert time.monotonic() < deadline, "the job deleted while it ran was never removed"
        time.sleep(0.01)
    with pytest.raises(JobNotFound):
        store.get_job(job.id)
