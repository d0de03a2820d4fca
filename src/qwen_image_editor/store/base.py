"""The job store interface. Every state change goes through here, along `jobs.states`' arrows only."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from qwen_image_editor.accounts import ApiKey, Role
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.jobs.records import Job, JobRegion, Progress, WorkerPresence
from qwen_image_editor.jobs.states import JobStatus


class JobStore(Protocol):
    """Durable job records with lease-based claiming, safe for many workers and API processes."""

    def create_job(
        self,
        job_id: str,
        request: EditRequest,
        input_count: int,
        *,
        owner: str | None = None,
        max_queued: int | None = None,
        original_sizes: Sequence[tuple[int, int]] = (),
        region: JobRegion | None = None,
    ) -> Job:
        """Record a new queued job. Raises QueueFull when `max_queued` jobs are already queued.
        `original_sizes`: the uploads' sizes as sent, when the stored inputs are smaller. `region`: its edit
        region's plan, when a mask came with it."""
        ...

    def get_job(self, job_id: str, *, owner: str | None = None) -> Job:
        """The job; JobNotFound if absent or (when `owner` is given) someone else's."""
        ...

    def list_jobs(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        status: JobStatus | Collection[JobStatus] | None = None,
        owner: str | None = None,
        search: str | None = None,
        starred: bool | None = None,
    ) -> tuple[list[Job], int]:
        """A page of jobs, newest first, and the total that match. `search`: words in the prompt, any case.
        Jobs deleted while they ran (going once they stop) are left out."""
        ...

    def queue_positions(self, job_ids: Sequence[str]) -> dict[str, int]:
        """Each queued job's place in the queue (1 = next to run), in one query; other jobs are absent."""
        ...

    def owner_load(self, owner: str, since: datetime) -> tuple[int, list[datetime]]:
        """How many of `owner`'s jobs are queued, and when each of its jobs since `since` was made (oldest
        first): what per-key quotas are checked against."""
        ...

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query now (the readiness check)."""
        ...

    def count_by_status(self) -> dict[JobStatus, int]:
        """How many jobs are in each state (every state present, zero when none)."""
        ...

    def claim_next_job(self, worker_id: str, lease_seconds: float) -> Job | None:
        """Take the oldest queued job (one whose cancel was undone goes first): it becomes processing with a lease,
        attempts + 1. None if none."""
        ...

    def renew_lease(self, job_id: str, worker_id: str, lease_seconds: float) -> bool:
        """Extend the lease; False when this worker no longer holds the job (it must stop)."""
        ...

    def update_progress(self, job_id: str, worker_id: str, progress: Progress) -> None:
        """Record progress of a job this worker holds (ignored otherwise)."""
        ...

    def complete_job(
        self,
        job_id: str,
        worker_id: str,
        output_names: list[str],
        *,
        flattened: bool = False,
        region: JobRegion | None = None,
    ) -> Job:
        """processing -> complete, once the output files are in place. `flattened`: a result had transparency
        and JPEG, which has none, has it on white. `region`: the job's region as the edit ran it (the approach the
        engine took), replacing the planned one; None leaves it as it was."""
        ...

    def fail_job(self, job_id: str, worker_id: str | None, reason: str) -> Job:
        """-> error with a reason for people. `worker_id` None fails a queued job (e.g. unreadable inputs)."""
        ...

    def request_cancel(self, job_id: str, *, owner: str | None = None) -> Job:
        """queued -> cancelled at once; processing: flag it, the worker stops at its next step.
        InvalidTransition when the job is already final."""
        ...

    def cancel_queued(self, *, owner: str | None = None) -> list[Job]:
        """Every queued job of `owner` (None: everyone's) -> cancelled, in one transaction; returns them in queue
        order. A job being claimed at that moment is left to run."""
        ...

    def undo_cancel(self, job_id: str, *, owner: str | None = None, within_seconds: float) -> Job:
        """cancelled -> queued, ahead of every other queued job, at most `within_seconds` after the cancel; its
        request (seed included) is unchanged. InvalidTransition otherwise; JobNotFound as for `get_job`."""
        ...

    def is_cancel_requested(self, job_id: str) -> bool:
        """True once a cancel was asked for this job (read by the worker at each step)."""
        ...

    def mark_cancelled(self, job_id: str, worker_id: str) -> Job:
        """processing -> cancelled, by the worker that stopped the run."""
        ...

    def release_job(self, job_id: str, worker_id: str) -> Job:
        """processing -> queued by the worker holding it, when it shuts down mid-job. The interrupted
        run does not count as an attempt."""
        ...

    def recover_expired_leases(
        self, max_attempts: int, now: datetime | None = None, *, held: Collection[str] = ()
    ) -> list[Job]:
        """Jobs whose worker died: back to queued while attempts < max_attempts, else error. Returns them.
        `held`: the caller's own jobs, never recovered by it (it lives: their leases lapsed because the
        database could not be written, e.g. on a full disk, and their outcomes are still to be recorded)."""
        ...

    def recover_previous_run(self, worker_name: str, worker_id: str, max_attempts: int) -> list[Job]:
        """Jobs still held by an earlier run of the worker named `worker_name` (ids `<name>/<run>`, any run but
        `worker_id`): that run is over, so they are requeued now, keeping their place, while attempts remain
        (the interrupted run counts), else error. Returns them."""
        ...

    def stopped_but_deleted(self) -> list[Job]:
        """Jobs deleted while they ran that have ended but are still recorded: the process that ended them died
        (or failed) before removing them. Oldest first."""
        ...

    def finished_before(self, cutoff: datetime) -> list[Job]:
        """Final, unstarred jobs (complete, error, cancelled) that finished before `cutoff`, oldest first."""
        ...

    def set_starred(self, job_id: str, starred: bool, *, owner: str | None = None) -> Job:
        """Star (keep whatever the retention) or unstar a job; JobNotFound as for `get_job`."""
        ...

    def delete_or_mark(self, job_id: str, *, owner: str | None = None) -> tuple[Job, bool]:
        """Delete a job that is not processing (True: the caller removes its files); flag a processing one for
        cancel and deletion once its worker lets go (False). Returns the job as it was last. JobNotFound."""
        ...

    def delete_job(self, job_id: str) -> None:
        """Remove the record of a job that is not processing. InvalidTransition if it is."""
        ...

    def record_worker(self, presence: WorkerPresence) -> None:
        """Note that a worker lives, with its model's state (replacing what it said before); rows of workers
        unheard of for a day are pruned on the way."""
        ...

    def workers_seen_since(self, since: datetime) -> list[WorkerPresence]:
        """The workers heard from at `since` or later, by id."""
        ...

    def forget_worker(self, worker_id: str) -> None:
        """A worker stopped cleanly: remove its row (rows of runs unheard of for a day are pruned by
        `record_worker`)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


# -- Keys and sessions, webhook deliveries: what the application layer asks of them (`store/keys.py`,
# `store/webhooks.py` are the SQL ones) ---------------------------------------------------------


class KeyStore(Protocol):
    """Keys by the hash of their secret; sessions by the hash of their token. Never a secret itself."""

    def create_key(self, name: str, role: Role, key_hash: str) -> ApiKey:
        """InvalidRequest if the name is taken."""
        ...

    def list_keys(self) -> list[ApiKey]: ...

    def count_keys(self) -> int: ...

    def key_by_hash(self, key_hash: str) -> tuple[ApiKey, str] | None:
        """The key and its hash, or None."""
        ...

    def touch_key(self, key_id: str, now: datetime) -> None:
        """Note when the key was last used."""
        ...

    def delete_key(self, name: str) -> bool:
        """Revoke a key and end its sessions; False if there was none by that name."""
        ...

    def create_session(self, token_hash: str, key_id: str, lifetime: timedelta) -> datetime:
        """Returns when the session expires."""
        ...

    def key_by_session(self, token_hash: str) -> tuple[ApiKey, str, datetime] | None:
        """The session's key, its hash and the session's expiry; None if it is unknown or has expired."""
        ...

    def delete_session(self, token_hash: str) -> None: ...

    def live_credentials(self, key_ids: set[str], session_hashes: set[str]) -> tuple[set[str], set[str]]:
        """Which of the keys and sessions still exist (and have not expired)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@dataclass(frozen=True)
class Delivery:
    """One claimed webhook delivery: its sender alone holds it until `next_attempt_at` (the lease) passes."""

    id: str
    job_id: str
    url: str
    body: str | None  # None until the first attempt renders it
    created_at: datetime
    attempts: int


class WebhookStore(Protocol):
    """Webhook deliveries (made by the job store when a job ends) and the signing secret."""

    def secret(self) -> str:
        """The signing secret, the same for every node."""
        ...

    def claim_due(self, lease_seconds: float) -> Delivery | None:
        """The oldest due delivery, its next attempt pushed `lease_seconds` away while this sender tries it."""
        ...

    def next_due_in(self) -> float | None:
        """Seconds until the next delivery is due; None when none waits."""
        ...

    def save_body(self, delivery_id: str, body: str) -> None: ...

    def settle(
        self,
        delivery_id: str,
        *,
        status: int | None,
        error: str | None,
        delivered: bool,
        retry_at: datetime | None,
    ) -> None:
        """Record one attempt: delivered, due again at `retry_at`, or (neither) given up."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
