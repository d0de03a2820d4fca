"""The JobStore contract, run against the SQLite and PostgreSQL stores alike."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from qwen_image_editor.edit_request import EditRequest, OutputFormat
from qwen_image_editor.errors import InvalidTransition, JobNotFound, QueueFull
from qwen_image_editor.jobs.records import Job, Progress, ProgressStage
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.store.base import JobStore

from .conftest import Backend, Clock

WORKER = "worker-a"
STRANGER = "worker-b"
LEASE = 30.0


def new_id() -> str:
    return str(uuid.uuid4())


def create(store: JobStore, *, owner: str | None = None, prompt: str = "make the sky stormy") -> Job:
    return store.create_job(new_id(), EditRequest(prompt=prompt, seed=7), 1, owner=owner)


def job_in_state(store: JobStore, status: JobStatus) -> Job:
    """A job brought to `status` along the allowed arrows; WORKER holds it when processing.

    Call it with no other job queued (it claims the oldest)."""
    job = create(store)
    if status is JobStatus.QUEUED:
        return job
    if status is JobStatus.CANCELLED:
        return store.request_cancel(job.id)
    claimed = store.claim_next_job(WORKER, LEASE)
    assert claimed is not None and claimed.id == job.id
    if status is JobStatus.COMPLETE:
        return store.complete_job(job.id, WORKER, ["output_1.png"])
    if status is JobStatus.ERROR:
        return store.fail_job(job.id, WORKER, "boom")
    return claimed


def position(store: JobStore, job_id: str) -> int | None:
    return store.queue_positions([job_id]).get(job_id)


def progress_at(percent: float) -> Progress:
    return Progress(
        stage=ProgressStage.DENOISING,
        message=f"step {int(percent)} of 100",
        progress=percent,
        step=int(percent),
        total_steps=100,
        eta_seconds=12.5,
        updated_at=datetime(2026, 1, 1, 13, 30, 15, 123456, tzinfo=UTC),
    )


# -- create, get, list ---------------------------------------------------------------------------


def test_create_then_get_round_trips_every_field(store: JobStore) -> None:
    request = EditRequest(prompt="add a hat", negative_prompt="blurry", seed=42, output_format=OutputFormat.WEBP)
    job_id = new_id()
    created = store.create_job(job_id, request, 2, owner="alice")

    job = store.get_job(job_id)
    assert job == created
    assert job.status is JobStatus.QUEUED
    assert job.request == request
    assert job.input_count == 2
    assert job.owner == "alice"
    assert job.attempts == 0
    assert job.claimed_by is None and job.lease_expires_at is None and job.started_at is None
    assert job.progress is None and job.error is None and job.output_names == []
    assert job.cancel_requested is False
    assert job.created_at.tzinfo is not None and job.created_at.utcoffset() == timedelta(0)


def test_a_duplicate_id_is_refused(store: JobStore) -> None:
    job = create(store)
    with pytest.raises(ValueError, match="already exists"):
        store.create_job(job.id, EditRequest(prompt="again"), 1)
    assert store.list_jobs()[1] == 1


def test_unknown_job_is_not_found(store: JobStore) -> None:
    missing = new_id()
    with pytest.raises(JobNotFound):
        store.get_job(missing)
    with pytest.raises(JobNotFound):
        store.request_cancel(missing)
    with pytest.raises(JobNotFound):
        store.complete_job(missing, WORKER, [])
    with pytest.raises(JobNotFound):
        store.delete_job(missing)
    with pytest.raises(JobNotFound):
        store.is_cancel_requested(missing)
    assert position(store, missing) is None
    assert store.renew_lease(missing, WORKER, LEASE) is False
    store.update_progress(missing, WORKER, progress_at(5))  # ignored, no error


def test_list_is_newest_first_with_filter_pagination_and_total(store: JobStore) -> None:
    made = [create(store, prompt=f"edit {i}") for i in range(5)]
    store.claim_next_job(WORKER, LEASE)  # the oldest becomes processing

    jobs, total = store.list_jobs()
    assert total == 5
    assert [j.id for j in jobs] == [j.id for j in reversed(made)]

    page, total = store.list_jobs(limit=2, offset=1)
    assert total == 5
    assert [j.id for j in page] == [made[3].id, made[2].id]

    queued, total = store.list_jobs(status=JobStatus.QUEUED)
    assert total == 4 and {j.id for j in queued} == {j.id for j in made[1:]}
    processing, total = store.list_jobs(status=JobStatus.PROCESSING)
    assert total == 1 and processing[0].id == made[0].id

    past_end, total = store.list_jobs(offset=10)
    assert past_end == [] and total == 5


def test_queue_positions_of_many_jobs_in_one_call(store: JobStore) -> None:
    made = [create(store) for _ in range(5)]
    store.claim_next_job(WORKER, LEASE)
    store.request_cancel(made[2].id)
    ids = [job.id for job in made]
    assert store.queue_positions(ids) == {ids[1]: 1, ids[3]: 2, ids[4]: 3}
    assert store.queue_positions([ids[4], new_id()]) == {ids[4]: 3}
    assert store.queue_positions([]) == {}


def test_count_by_status_lists_every_state(store: JobStore) -> None:
    assert store.count_by_status() == dict.fromkeys(JobStatus, 0)
    for status in sorted(JobStatus, key=lambda s: s is JobStatus.QUEUED):  # queued last: nothing claims it
        job_in_state(store, status)
    assert store.count_by_status() == dict.fromkeys(JobStatus, 1)


# -- the queue -----------------------------------------------------------------------------------


def test_queue_positions_follow_claims_and_cancels(store: JobStore) -> None:
    a, b, c = create(store), create(store), create(store)
    assert [position(store, j.id) for j in (a, b, c)] == [1, 2, 3]

    store.claim_next_job(WORKER, LEASE)
    assert [position(store, j.id) for j in (a, b, c)] == [None, 1, 2]

    store.request_cancel(b.id)
    assert [position(store, j.id) for j in (a, b, c)] == [None, None, 1]


@pytest.mark.parametrize("frozen", [False, True], ids=["ticking-clock", "equal-timestamps"])
def test_claims_are_fifo_and_agree_with_queue_positions(backend: Backend, frozen: bool) -> None:
    store = backend.make(Clock(frozen=frozen))
    made = [create(store) for _ in range(6)]
    if frozen:
        assert len({j.created_at for j in made}) == 1  # only the insertion order can break the tie

    for expected in made:
        assert position(store, expected.id) == 1
        claimed = store.claim_next_job(WORKER, LEASE)
        assert claimed is not None and claimed.id == expected.id
    assert store.claim_next_job(WORKER, LEASE) is None


def test_claim_sets_attempts_lease_and_started_at(store: JobStore, clock: Clock) -> None:
    assert store.claim_next_job(WORKER, LEASE) is None
    job = create(store)

    claimed = store.claim_next_job(WORKER, LEASE)
    assert claimed is not None
    assert claimed.id == job.id
    assert claimed.status is JobStatus.PROCESSING
    assert claimed.claimed_by == WORKER
    assert claimed.attempts == 1
    assert claimed.started_at is not None and claimed.started_at >= job.created_at
    assert claimed.lease_expires_at == claimed.started_at + timedelta(seconds=LEASE)
    assert store.get_job(job.id) == claimed


def _claim_concurrently(stores: list[JobStore], workers: int) -> list[str]:
    """Every worker thread claims until the queue is empty; returns all the ids claimed."""
    claimed: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(workers)

    def work(index: int) -> None:
        store = stores[index % len(stores)]
        try:
            start.wait()
            while (job := store.claim_next_job(f"worker-{index}", LEASE)) is not None:
                with lock:
                    claimed.append(job.id)
        except BaseException as exc:  # reported below: a failed thread must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return claimed


def test_concurrent_claims_never_take_a_job_twice(store: JobStore) -> None:
    made = {create(store).id for _ in range(30)}
    claimed = _claim_concurrently([store], workers=6)
    assert len(claimed) == len(set(claimed)) == len(made)
    assert set(claimed) == made
    for job_id in made:
        assert store.get_job(job_id).attempts == 1


def test_separate_store_objects_on_one_database_never_take_a_job_twice(backend: Backend) -> None:
    stores = [backend.make() for _ in range(4)]  # separate engines and pools, like separate processes
    made = {create(stores[0]).id for _ in range(30)}
    claimed = _claim_concurrently(stores, workers=8)
    assert len(claimed) == len(set(claimed)) == len(made)
    assert set(claimed) == made


def test_queue_full_counts_only_queued_jobs(store: JobStore) -> None:
    store.create_job(new_id(), EditRequest(prompt="one"), 1, max_queued=2)
    store.create_job(new_id(), EditRequest(prompt="two"), 1, max_queued=2)
    with pytest.raises(QueueFull, match=r"2 jobs are waiting.*try again"):
        store.create_job(new_id(), EditRequest(prompt="three"), 1, max_queued=2)
    assert store.count_by_status()[JobStatus.QUEUED] == 2

    store.claim_next_job(WORKER, LEASE)  # a processing job leaves room
    store.create_job(new_id(), EditRequest(prompt="three"), 1, max_queued=2)
    store.create_job(new_id(), EditRequest(prompt="no cap"), 1)  # without a cap there is no limit
    assert store.count_by_status()[JobStatus.QUEUED] == 3


# -- leases --------------------------------------------------------------------------------------


def test_lease_renewal_by_holder_and_stranger(store: JobStore, clock: Clock) -> None:
    create(store)
    claimed = store.claim_next_job(WORKER, LEASE)
    assert claimed is not None and claimed.lease_expires_at is not None

    clock.advance(10)
    assert store.renew_lease(claimed.id, WORKER, 60) is True
    renewed = store.get_job(claimed.id).lease_expires_at
    assert renewed is not None and renewed >= claimed.lease_expires_at + timedelta(seconds=40)

    assert store.renew_lease(claimed.id, STRANGER, 600) is False
    assert store.get_job(claimed.id).lease_expires_at == renewed

    store.complete_job(claimed.id, WORKER, ["output_1.png"])
    assert store.renew_lease(claimed.id, WORKER, 60) is False


def test_a_worker_never_recovers_the_jobs_it_holds(store: JobStore, clock: Clock) -> None:
    """A live worker's own job whose lease lapsed (its renewals failed: a full disk) is not dead."""
    held, dead = create(store), create(store)
    assert store.claim_next_job(WORKER, LEASE) is not None and store.claim_next_job(STRANGER, LEASE) is not None
    later = clock.now + timedelta(seconds=LEASE + 1)
    [recovered] = store.recover_expired_leases(2, now=later, held={held.id})
    assert recovered.id == dead.id and recovered.status is JobStatus.QUEUED
    assert store.get_job(held.id).status is JobStatus.PROCESSING
    assert [job.id for job in store.recover_expired_leases(2, now=later)] == [held.id]


def test_expired_leases_requeue_then_fail_after_max_attempts(store: JobStore, clock: Clock) -> None:
    job = create(store)
    first = store.claim_next_job(WORKER, LEASE)
    assert first is not None
    store.update_progress(job.id, WORKER, progress_at(40))

    assert store.recover_expired_leases(2, now=clock.now + timedelta(seconds=LEASE - 1)) == []
    assert store.get_job(job.id).status is JobStatus.PROCESSING

    [requeued] = store.recover_expired_leases(2, now=clock.now + timedelta(seconds=LEASE + 1))
    assert requeued.id == job.id
    assert requeued.status is JobStatus.QUEUED
    assert requeued.attempts == 1
    assert requeued.claimed_by is None and requeued.lease_expires_at is None and requeued.progress is None
    assert store.get_job(job.id) == requeued
    assert position(store, job.id) == 1

    # the first worker wakes up late: it lost the job and may not finish it
    with pytest.raises(InvalidTransition):
        store.complete_job(job.id, WORKER, ["output_1.png"])
    assert store.renew_lease(job.id, WORKER, LEASE) is False

    second = store.claim_next_job(STRANGER, LEASE)
    assert second is not None and second.id == job.id and second.attempts == 2

    clock.advance(LEASE + 1)
    [failed] = store.recover_expired_leases(2, now=clock.now)
    assert failed.status is JobStatus.ERROR
    assert failed.attempts == 2
    assert failed.error is not None
    assert "worker stopped" in failed.error and "2 of 2" in failed.error and "not retried" in failed.error
    assert failed.finished_at == clock.now
    assert failed.claimed_by is None and failed.lease_expires_at is None
    assert store.recover_expired_leases(2, now=clock.now + timedelta(days=1)) == []


def test_expired_lease_of_a_job_being_cancelled_ends_cancelled(store: JobStore, clock: Clock) -> None:
    job = create(store)
    store.claim_next_job(WORKER, LEASE)
    store.request_cancel(job.id)

    [recovered] = store.recover_expired_leases(5, now=clock.now + timedelta(seconds=LEASE + 1))
    assert recovered.status is JobStatus.CANCELLED
    assert recovered.finished_at is not None
    assert store.claim_next_job(WORKER, LEASE) is None


def test_recover_refuses_a_naive_time(store: JobStore) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.recover_expired_leases(2, now=datetime(2026, 1, 1))  # naive on purpose


# -- progress ------------------------------------------------------------------------------------


def test_progress_round_trips_for_the_holder_only(store: JobStore) -> None:
    queued = create(store)
    store.update_progress(queued.id, WORKER, progress_at(1))
    assert store.get_job(queued.id).progress is None  # not claimed: ignored

    job = create(store)
    store.claim_next_job(WORKER, LEASE)  # claims `queued`, the older one
    store.claim_next_job(WORKER, LEASE)
    progress = progress_at(37.5)
    store.update_progress(job.id, WORKER, progress)
    stored = store.get_job(job.id).progress
    assert stored == progress
    assert stored is not None and stored.updated_at.tzinfo is not None

    store.update_progress(job.id, STRANGER, progress_at(99))  # a stranger's update is ignored
    assert store.get_job(job.id).progress == progress
