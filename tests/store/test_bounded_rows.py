"""Rows that would otherwise pile up for ever: a job's webhook delivery goes with the job, and the rows of
workers unheard of for a day are pruned (a worker that stops cleanly removes its own: `tests/test_worker_row.py`)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.jobs.records import WorkerPresence
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.store.base import JobStore
from qwen_image_editor.store.connections import make_engine
from qwen_image_editor.store.schema import webhook_deliveries

from .conftest import Backend, Clock

WORKER = "worker-a"


def deliveries(backend: Backend) -> list[str]:
    engine = make_engine(backend.url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(webhook_deliveries.c.job_id)).scalars())
    finally:
        engine.dispose()


def finished_with_webhook(store: JobStore) -> str:
    job = store.create_job(str(uuid.uuid4()), EditRequest(prompt="p", seed=1, webhook_url="https://example.com/h"), 1)
    claimed = store.claim_next_job(WORKER, 30)
    assert claimed is not None and claimed.id == job.id
    store.complete_job(job.id, WORKER, ["output_1.png"])
    return job.id


def test_deleting_a_job_deletes_its_webhook_delivery(backend: Backend, store: JobStore) -> None:
    kept, deleted = finished_with_webhook(store), finished_with_webhook(store)
    assert sorted(deliveries(backend)) == sorted([kept, deleted])
    store.delete_job(deleted)  # what DELETE /api/jobs/{id}, `qie cleanup` and the retention sweep call
    assert deliveries(backend) == [kept]
    assert store.get_job(kept).webhook is not None and store.get_job(kept).status is JobStatus.COMPLETE


def test_rows_of_workers_quiet_for_a_day_are_pruned(store: JobStore, clock: Clock) -> None:
    start = clock()

    def presence(worker_id: str, hours: float) -> WorkerPresence:
        return WorkerPresence(worker_id, "fake", "ready", "cpu", start + timedelta(hours=hours))

    store.record_worker(presence("gone/1-aa", 0))
    store.record_worker(presence("quiet/2-bb", 2))
    store.record_worker(presence("live/3-cc", 24.5))  # any heartbeat prunes what has been quiet for a day
    listed = [w.worker_id for w in store.workers_seen_since(start - timedelta(days=30))]
    assert listed == ["live/3-cc", "quiet/2-bb"]
    store.forget_worker("quiet/2-bb")  # a clean stop
    assert [w.worker_id for w in store.workers_seen_since(start - timedelta(days=30))] == ["live/3-cc"]
