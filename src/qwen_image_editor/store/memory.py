"""An in-memory JobStore with the SQL store's semantics, for fast tests. Nothing survives a restart."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from qwen_image_editor.errors import JobNotFound
from qwen_image_editor.jobs.records import Job, Progress
from qwen_image_editor.jobs.request import EditRequest
from qwen_image_editor.jobs.states import JobStatus, check_transition
from qwen_image_editor.store import rules


@dataclass
class _Entry:
    job: Job
    seq: int  # insertion order, the FIFO tie-break (as the SQL store's `seq` column)

    @property
    def fifo_key(self) -> tuple[datetime, int]:
        return self.job.created_at, self.seq


class MemoryJobStore:
    """JobStore in a dict behind one lock. Jobs handed out are copies: changing them changes nothing."""

    def __init__(self, *, clock: Callable[[], datetime] = rules.utcnow) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._next_seq = 1

    # -- reading ------------------------------------------------------------------------------

    def get_job(self, job_id: str, *, owner: str | None = None) -> Job:
        with self._lock:
            return copy.deepcopy(self._entry(job_id, owner=owner).job)

    def list_jobs(
        self, *, limit: int = 50, offset: int = 0, status: JobStatus | None = None, owner: str | None = None
    ) -> tuple[list[Job], int]:
        with self._lock:
            matching = [
                entry
                for entry in self._entries.values()
                if (status is None or entry.job.status is status) and (owner is None or entry.job.owner == owner)
            ]
            matching.sort(key=lambda entry: entry.fifo_key, reverse=True)
            page = matching[offset : offset + limit]
            return [copy.deepcopy(entry.job) for entry in page], len(matching)

    def queue_position(self, job_id: str) -> int | None:
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is None or entry.job.status is not JobStatus.QUEUED:
                return None
            return 1 + sum(1 for other in self._queued() if other.fifo_key < entry.fifo_key)

    def count_by_status(self) -> dict[JobStatus, int]:
        counts = dict.fromkeys(JobStatus, 0)
        with self._lock:
            for entry in self._entries.values():
                counts[entry.job.status] += 1
        return counts

    def is_cancel_requested(self, job_id: str) -> bool:
        with self._lock:
            return self._entry(job_id).job.cancel_requested

    def finished_before(self, cutoff: datetime) -> list[Job]:
        cutoff = rules.require_aware(cutoff)
        with self._lock:
            done = [
                entry
                for entry in self._entries.values()
                if entry.job.status.is_terminal and entry.job.finished_at is not None and entry.job.finished_at < cutoff
            ]
            done.sort(key=lambda entry: (entry.job.finished_at, entry.seq))
            return [copy.deepcopy(entry.job) for entry in done]

    # -- writing ------------------------------------------------------------------------------

    def create_job(
        self,
        job_id: str,
        request: EditRequest,
        input_count: int,
        *,
        owner: str | None = None,
        max_queued: int | None = None,
    ) -> Job:
        with self._lock:
            if job_id in self._entries:
                raise ValueError(f"a job with id {job_id} already exists")
            if max_queued is not None:
                rules.check_queue_room(len(self._queued()), max_queued)
            now = rules.require_aware(self._clock())
            job = Job(
                id=job_id,
                status=JobStatus.QUEUED,
                request=request,
                input_count=input_count,
                created_at=now,
                owner=owner,
            )
            self._entries[job_id] = _Entry(job, self._next_seq)
            self._next_seq += 1
            return copy.deepcopy(job)

    def claim_next_job(self, worker_id: str, lease_seconds: float) -> Job | None:
        with self._lock:
            queued = self._queued()
            if not queued:
                return None
            job = min(queued, key=lambda entry: entry.fifo_key).job
            check_transition(job.status, JobStatus.PROCESSING)
            now = self._clock()
            job.status = JobStatus.PROCESSING
            job.claimed_by = worker_id
            job.lease_expires_at = rules.lease_deadline(now, lease_seconds)
            job.attempts += 1
            job.started_at = now
            job.progress = None
            return copy.deepcopy(job)

    def renew_lease(self, job_id: str, worker_id: str, lease_seconds: float) -> bool:
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is None or not rules.holds(entry.job.status, entry.job.claimed_by, worker_id):
                return False
            entry.job.lease_expires_at = rules.lease_deadline(self._clock(), lease_seconds)
            return True

    def update_progress(self, job_id: str, worker_id: str, progress: Progress) -> None:
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is not None and rules.holds(entry.job.status, entry.job.claimed_by, worker_id):
                entry.job.progress = progress.model_copy(deep=True)

    def complete_job(self, job_id: str, worker_id: str, output_names: list[str]) -> Job:
        with self._lock:
            job = self._finish(job_id, worker_id, JobStatus.COMPLETE)
            job.output_names = list(output_names)
            return copy.deepcopy(job)

    def fail_job(self, job_id: str, worker_id: str | None, reason: str) -> Job:
        with self._lock:
            job = self._finish(job_id, worker_id, JobStatus.ERROR)
            job.error = reason
            return copy.deepcopy(job)

    def mark_cancelled(self, job_id: str, worker_id: str) -> Job:
        with self._lock:
            return copy.deepcopy(self._finish(job_id, worker_id, JobStatus.CANCELLED))

    def release_job(self, job_id: str, worker_id: str) -> Job:
        with self._lock:
            job = self._entry(job_id).job
            rules.check_worker_change(job_id, job.status, job.claimed_by, worker_id, JobStatus.QUEUED)
            job.status = JobStatus.QUEUED
            job.attempts = max(0, job.attempts - 1)
            job.claimed_by = None
            job.lease_expires_at = None
            job.started_at = None
            job.progress = None
            return copy.deepcopy(job)

    def request_cancel(self, job_id: str, *, owner: str | None = None) -> Job:
        with self._lock:
            job = self._entry(job_id, owner=owner).job
            rules.check_cancellable(job_id, job.status)
            job.cancel_requested = True
            if job.status is JobStatus.QUEUED:
                check_transition(job.status, JobStatus.CANCELLED)
                job.status = JobStatus.CANCELLED
                job.finished_at = self._clock()
                job.lease_expires_at = None
            return copy.deepcopy(job)

    def recover_expired_leases(self, max_attempts: int, now: datetime | None = None) -> list[Job]:
        now = rules.require_aware(now or self._clock())
        recovered: list[Job] = []
        with self._lock:
            expired = [
                entry
                for entry in self._entries.values()
                if entry.job.status is JobStatus.PROCESSING
                and entry.job.lease_expires_at is not None
                and entry.job.lease_expires_at < now
            ]
            for entry in sorted(expired, key=lambda entry: entry.fifo_key):
                job = entry.job
                target, reason = rules.recovery_outcome(job.attempts, max_attempts, job.cancel_requested)
                check_transition(job.status, target)
                job.status = target
                job.claimed_by = None
                job.lease_expires_at = None
                if target is JobStatus.QUEUED:
                    job.started_at = None
                    job.progress = None
                else:
                    job.finished_at = now
                    job.error = reason
                recovered.append(copy.deepcopy(job))
        return recovered

    def delete_job(self, job_id: str) -> None:
        with self._lock:
            rules.check_deletable(job_id, self._entry(job_id).job.status)
            del self._entries[job_id]

    def close(self) -> None:
        """Nothing to release; the jobs stay readable."""

    # -- helpers (call with the lock held) ----------------------------------------------------

    def _entry(self, job_id: str, *, owner: str | None = None) -> _Entry:
        entry = self._entries.get(job_id)
        # someone else's job looks exactly like a missing one
        if entry is None or (owner is not None and entry.job.owner != owner):
            raise JobNotFound(f"no job {job_id}")
        return entry

    def _queued(self) -> list[_Entry]:
        return [entry for entry in self._entries.values() if entry.job.status is JobStatus.QUEUED]

    def _finish(self, job_id: str, worker_id: str | None, target: JobStatus) -> Job:
        job = self._entry(job_id).job
        rules.check_worker_change(job_id, job.status, job.claimed_by, worker_id, target)
        job.status = target
        job.finished_at = self._clock()
        job.lease_expires_at = None
        return job
