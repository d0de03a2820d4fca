"""The JobStore contract, continued (transitions, retention, owners, workers), against the SQLite and PostgreSQL
stores alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from qwen_image_editor.errors import InvalidTransition, JobNotFound
from qwen_image_editor.jobs.records import Job, WorkerPresence
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.store.base import JobStore
from tests.store.test_contract import LEASE, STRANGER, WORKER, create, job_in_state, position

from .conftest import Clock

# -- transitions ---------------------------------------------------------------------------------

Action = Callable[[JobStore, str], Job]
ACTIONS: dict[str, tuple[Action, JobStatus, set[JobStatus]]] = {
    # name: (action, the state it leads to, the states it is allowed from)
    "complete": (lambda s, i: s.complete_job(i, WORKER, ["output_1.png"]), JobStatus.COMPLETE, {JobStatus.PROCESSING}),
    "fail": (lambda s, i: s.fail_job(i, WORKER, "it broke"), JobStatus.ERROR, {JobStatus.PROCESSING}),
    "fail-unclaimed": (lambda s, i: s.fail_job(i, None, "unreadable input"), JobStatus.ERROR, {JobStatus.QUEUED}),
    "mark-cancelled": (lambda s, i: s.mark_cancelled(i, WORKER), JobStatus.CANCELLED, {JobStatus.PROCESSING}),
    "stranger-complete": (lambda s, i: s.complete_job(i, STRANGER, ["x.png"]), JobStatus.COMPLETE, set()),
    "stranger-fail": (lambda s, i: s.fail_job(i, STRANGER, "not mine"), JobStatus.ERROR, set()),
    "stranger-cancel": (lambda s, i: s.mark_cancelled(i, STRANGER), JobStatus.CANCELLED, set()),
}


@pytest.mark.parametrize("start", list(JobStatus), ids=str)
@pytest.mark.parametrize("action_name", list(ACTIONS))
def test_worker_transitions_follow_the_state_table(store: JobStore, start: JobStatus, action_name: str) -> None:
    action, target, allowed_from = ACTIONS[action_name]
    job = job_in_state(store, start)

    if start in allowed_from:
        done = action(store, job.id)
        assert done.status is target
        assert done.finished_at is not None and done.lease_expires_at is None
        assert store.get_job(job.id) == done
        if target is JobStatus.COMPLETE:
            assert done.output_names == ["output_1.png"]
        if target is JobStatus.ERROR:
            assert done.error
        return

    with pytest.raises(InvalidTransition) as refused:
        action(store, job.id)
    message = str(refused.value)
    assert "cannot" in message or "expected" in message
    after = store.get_job(job.id)
    assert after.status is start
    assert after == job or start is JobStatus.CANCELLED  # nothing changed


def test_cancel_a_queued_job_takes_effect_at_once(store: JobStore) -> None:
    job = create(store)
    cancelled = store.request_cancel(job.id)
    assert cancelled.status is JobStatus.CANCELLED
    assert cancelled.finished_at is not None
    assert store.is_cancel_requested(job.id) is True
    assert position(store, job.id) is None
    assert store.claim_next_job(WORKER, LEASE) is None


def test_cancel_a_processing_job_flags_it_for_its_worker(store: JobStore) -> None:
    job = job_in_state(store, JobStatus.PROCESSING)
    assert store.is_cancel_requested(job.id) is False

    flagged = store.request_cancel(job.id)
    assert flagged.status is JobStatus.PROCESSING
    assert flagged.cancel_requested is True and flagged.finished_at is None
    assert store.is_cancel_requested(job.id) is True
    assert store.request_cancel(job.id).status is JobStatus.PROCESSING  # asking twice is harmless

    stopped = store.mark_cancelled(job.id, WORKER)
    assert stopped.status is JobStatus.CANCELLED and stopped.finished_at is not None


@pytest.mark.parametrize("final", [JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.CANCELLED], ids=str)
def test_cancel_a_final_job_is_refused(store: JobStore, final: JobStatus) -> None:
    job = job_in_state(store, final)
    with pytest.raises(InvalidTransition, match=f"already {final}"):
        store.request_cancel(job.id)
    assert store.get_job(job.id) == job


# -- retention and deletion ----------------------------------------------------------------------


def test_finished_before_lists_old_final_jobs_oldest_first(store: JobStore, clock: Clock) -> None:
    error = job_in_state(store, JobStatus.ERROR)
    clock.advance(60)
    cancelled = job_in_state(store, JobStatus.CANCELLED)
    clock.advance(60)
    complete = job_in_state(store, JobStatus.COMPLETE)
    cutoff = clock.now
    clock.advance(60)
    job_in_state(store, JobStatus.COMPLETE)  # finished after the cutoff
    job_in_state(store, JobStatus.PROCESSING)
    job_in_state(store, JobStatus.QUEUED)

    old = store.finished_before(cutoff)
    assert [j.id for j in old] == [error.id, cancelled.id, complete.id]
    assert store.finished_before(datetime(2000, 1, 1, tzinfo=UTC)) == []


@pytest.mark.parametrize("status", list(JobStatus), ids=str)
def test_delete_removes_any_job_but_a_processing_one(store: JobStore, status: JobStatus) -> None:
    job = job_in_state(store, status)
    if status is JobStatus.PROCESSING:
        with pytest.raises(InvalidTransition, match="processing"):
            store.delete_job(job.id)
        assert store.get_job(job.id) == job
        return
    store.delete_job(job.id)
    with pytest.raises(JobNotFound):
        store.get_job(job.id)
    assert store.list_jobs() == ([], 0)


# -- owners --------------------------------------------------------------------------------------


def test_owners_see_only_their_own_jobs(store: JobStore) -> None:
    alice = create(store, owner="alice")
    bob = create(store, owner="bob")
    create(store)  # no owner (made without keys)

    assert store.get_job(alice.id, owner="alice") == alice
    with pytest.raises(JobNotFound):
        store.get_job(alice.id, owner="bob")
    with pytest.raises(JobNotFound):
        store.request_cancel(alice.id, owner="bob")
    assert store.get_job(alice.id).status is JobStatus.QUEUED

    jobs, total = store.list_jobs(owner="bob")
    assert total == 1 and [j.id for j in jobs] == [bob.id]
    assert store.list_jobs(owner="carol") == ([], 0)
    assert store.list_jobs()[1] == 3  # no owner given: everything (admin, or auth off)

    assert store.request_cancel(bob.id, owner="bob").status is JobStatus.CANCELLED


def test_release_hands_a_job_back_without_spending_an_attempt(store: JobStore) -> None:
    job = create(store)
    store.claim_next_job(WORKER, LEASE)
    with pytest.raises(InvalidTransition):
        store.release_job(job.id, "someone-else")
    released = store.release_job(job.id, WORKER)
    assert released.status is JobStatus.QUEUED
    assert released.attempts == 0 and released.claimed_by is None and released.started_at is None
    assert position(store, job.id) == 1
    assert store.claim_next_job(WORKER, LEASE).attempts == 1  # type: ignore[union-attr]


def test_workers_are_heard_of_with_their_latest_word_and_forgotten_when_quiet(store: JobStore, clock: Clock) -> None:
    start = clock()
    store.record_worker(WorkerPresence("gpu0/1-aa", "Qwen/Qwen-Image-Edit-2511", "loading", "cuda:0", start))
    store.record_worker(WorkerPresence("gpu1/2-bb", "Qwen/Qwen-Image-Edit-2511", "ready", "cuda:1", start))
    later = start + timedelta(seconds=90)
    failed = WorkerPresence("gpu0/1-aa", "Qwen/Qwen-Image-Edit-2511", "failed", "cuda:0", later, "CUDA out of memory")
    store.record_worker(failed)  # replaces what gpu0 said before
    assert store.workers_seen_since(start) == [
        failed,
        WorkerPresence("gpu1/2-bb", "Qwen/Qwen-Image-Edit-2511", "ready", "cuda:1", start),
    ]
    assert store.workers_seen_since(start + timedelta(seconds=60)) == [failed]  # gpu1 has gone quiet
