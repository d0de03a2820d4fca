"""Events and log lines come from what the store recorded, in one place (`JobLifecycle`)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest

from qwen_image_editor.application.lifecycle import JobLifecycle
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.jobs.events import JobChanged, JobEvent, JobEventKind, JobProgressed, change_kind
from qwen_image_editor.jobs.ids import new_job_id
from qwen_image_editor.jobs.records import Job, Progress, ProgressStage
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.store.rules import utcnow
from qwen_image_editor.store.sql import SqlJobStore

SECRET_PROMPT = "put the secret hat from picture 2 on the person in picture 1"
WORKER = "host:1"


class RecordingBus:
    def __init__(self) -> None:
        self.events: list[JobEvent] = []

    def publish(self, event: JobEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[JobEventKind]:
        return [event.kind for event in self.events]


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus()


@pytest.fixture
def store(tmp_path: Path) -> SqlJobStore:
    return SqlJobStore(f"sqlite:///{tmp_path / 'qie.db'}")


@pytest.fixture
def lifecycle(store: SqlJobStore, bus: RecordingBus) -> JobLifecycle:
    return JobLifecycle(store, bus)  # type: ignore[arg-type]


def create(lifecycle: JobLifecycle) -> Job:
    return lifecycle.create(new_job_id(), EditRequest(prompt=SECRET_PROMPT, seed=3), 1, owner=None, max_queued=10)


def info_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and r.name.startswith("qwen_image")]


@pytest.mark.parametrize(
    ("previous", "current", "kind"),
    [
        (None, JobStatus.QUEUED, JobEventKind.QUEUED),
        (JobStatus.QUEUED, JobStatus.PROCESSING, JobEventKind.STARTED),
        (JobStatus.PROCESSING, JobStatus.QUEUED, JobEventKind.REQUEUED),
        (JobStatus.PROCESSING, JobStatus.COMPLETE, JobEventKind.COMPLETE),
        (JobStatus.PROCESSING, JobStatus.ERROR, JobEventKind.ERROR),
        (JobStatus.QUEUED, JobStatus.CANCELLED, JobEventKind.CANCELLED),
        (JobStatus.PROCESSING, JobStatus.CANCELLED, JobEventKind.CANCELLED),
    ],
)
def test_each_recorded_change_is_one_kind_of_event(
    previous: JobStatus | None, current: JobStatus, kind: JobEventKind
) -> None:
    assert change_kind(previous, current) is kind


def test_a_job_s_life_gives_one_event_and_one_info_line_per_change(
    lifecycle: JobLifecycle, bus: RecordingBus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    job = create(lifecycle)
    claimed = lifecycle.claim_next(WORKER, 30)
    assert claimed is not None and claimed.id == job.id
    progress = Progress(stage=ProgressStage.DENOISING, message="Step 1 of 2", progress=50, updated_at=utcnow())
    lifecycle.progress(job.id, WORKER, progress)
    done = lifecycle.complete(job.id, WORKER, ["output_1.png"])

    assert bus.kinds() == [JobEventKind.QUEUED, JobEventKind.STARTED, JobEventKind.PROGRESS, JobEventKind.COMPLETE]
    changed = [event for event in bus.events if isinstance(event, JobChanged)]
    assert [event.previous for event in changed] == [None, JobStatus.QUEUED, JobStatus.PROCESSING]
    assert changed[-1].job.output_names == done.output_names == ["output_1.png"]  # what the store wrote
    assert isinstance(bus.events[2], JobProgressed) and bus.events[2].progress == progress

    lines = info_lines(caplog)
    assert len(lines) == 3  # progress is not a lifecycle change
    assert f"job {job.id} started: queued -> processing (attempt 1, worker {WORKER}," in lines[1]
    assert f"job {job.id} complete: processing -> complete (attempt 1, worker {WORKER}," in lines[2]
    assert all("secret hat" not in line for line in lines)


def test_cancels_requeues_and_failures_are_announced(
    lifecycle: JobLifecycle, store: SqlJobStore, bus: RecordingBus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    waiting = create(lifecycle)
    lifecycle.request_cancel(waiting.id)  # queued: cancelled at once
    running = create(lifecycle)
    assert lifecycle.claim_next(WORKER, 30) is not None
    lifecycle.request_cancel(running.id)  # running: only flagged, the worker ends it
    assert bus.kinds()[-1] is JobEventKind.STARTED
    lifecycle.release(running.id, WORKER)  # shutting down: back to the queue
    assert lifecycle.claim_next(WORKER, -1) is not None  # and its worker "dies"
    requeued = lifecycle.recover_expired_leases(max_attempts=1)  # cancel was asked: it ends cancelled
    assert [job.status for job in requeued] == [JobStatus.CANCELLED]

    crashing = create(lifecycle)
    assert lifecycle.claim_next(WORKER, -1) is not None  # its lease is already over: the worker "died"
    [recovered] = lifecycle.recover_expired_leases(max_attempts=2)
    assert recovered.id == crashing.id and recovered.status is JobStatus.QUEUED
    assert lifecycle.claim_next(WORKER, 30) is not None
    lifecycle.fail(crashing.id, WORKER, "out of memory")

    assert bus.kinds() == [
        JobEventKind.QUEUED,
        JobEventKind.CANCELLED,
        JobEventKind.QUEUED,
        JobEventKind.STARTED,
        JobEventKind.REQUEUED,
        JobEventKind.STARTED,
        JobEventKind.CANCELLED,
        JobEventKind.QUEUED,
        JobEventKind.STARTED,
        JobEventKind.REQUEUED,
        JobEventKind.STARTED,
        JobEventKind.ERROR,
    ]
    lines = info_lines(caplog)
    assert len(lines) == len(bus.events)
    assert f"job {crashing.id} requeued: processing -> queued (attempt 1, worker (lease expired)," in "\n".join(lines)
    assert f"job {crashing.id} error: processing -> error (attempt 2, worker {WORKER}," in lines[-1]


def test_the_log_line_says_how_long_the_job_ran(
    tmp_path: Path, bus: RecordingBus, caplog: pytest.LogCaptureFixture
) -> None:
    started = utcnow() - timedelta(seconds=90)
    lifecycle = JobLifecycle(SqlJobStore(f"sqlite:///{tmp_path / 'q.db'}", clock=lambda: started), bus)  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    job = create(lifecycle)
    assert lifecycle.claim_next(WORKER, 300) is not None
    at_least = (utcnow() - started).total_seconds()  # ninety seconds and however long the test took so far
    lifecycle.complete(job.id, WORKER, ["output_1.png"])
    at_most = (utcnow() - started).total_seconds()
    said = re.search(r"\(attempt 1, worker host:1, (\d+\.\d)s\)$", info_lines(caplog)[-1])
    assert said is not None, info_lines(caplog)
    assert round(at_least, 1) <= float(said[1]) <= round(at_most, 1), (at_least, said[0], at_most)
