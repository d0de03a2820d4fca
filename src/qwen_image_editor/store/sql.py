"""The job store on a SQL database through SQLAlchemy Core: SQLite (the default) or PostgreSQL. Here its writes;
its reads are in `job_queries`, the row to record mapping in `job_rows`, worker presence in `workers`."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.jobs.records import Job, JobRegion, Progress, RequeueReason, WorkerPresence
from qwen_image_editor.jobs.states import JobStatus, check_transition
from qwen_image_editor.store import rules
from qwen_image_editor.store.connections import write_transaction
from qwen_image_editor.store.job_queries import SqlJobQueries
from qwen_image_editor.store.job_rows import FIFO, delete_job_row, select_jobs, to_job
from qwen_image_editor.store.notify import JOBS_CHANNEL
from qwen_image_editor.store.schema import jobs, webhook_deliveries
from qwen_image_editor.store.workers import SqlWorkers

# Serialises queue-cap checks on PostgreSQL, whose READ COMMITTED would let two inserts both see room.
_PG_QUEUE_CAP_LOCK = 0x51E0002


class SqlJobStore(SqlJobQueries):
    """JobStore on SQLite (WAL, BEGIN IMMEDIATE writes) or PostgreSQL (row locks, SKIP LOCKED claims)."""

    def __init__(self, database: str | Engine, *, clock: Callable[[], datetime] = rules.utcnow) -> None:
        """`database`: the process's engine (`open_database`), or a URL for a store of its own."""
        super().__init__(database, clock=clock)
        self._workers = SqlWorkers(self._engine)

    # -- writing ------------------------------------------------------------------------------

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
        now = self._clock()
        values: dict[str, Any] = {
            "id": job_id,
            "status": JobStatus.QUEUED.value,
            "request": json.dumps(request.model_dump(mode="json")),
            "input_count": input_count,
            "owner": owner,
            "created_at": now,
            "updated_at": now,
            "attempts": 0,
            "cancel_requested": False,
            "output_names": "[]",
            "prompt": request.prompt,
            "original_sizes": json.dumps([list(size) for size in original_sizes]) if original_sizes else None,
            "region": None if region is None else json.dumps(dataclasses.asdict(region)),
        }
        with write_transaction(self._engine) as conn:
            if max_queued is not None:
                if self._postgres:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_QUEUE_CAP_LOCK})
                queued = conn.execute(
                    select(func.count()).select_from(jobs).where(jobs.c.status == JobStatus.QUEUED.value)
                ).scalar_one()
                rules.check_queue_room(int(queued), max_queued)
            if not self._postgres:
                # SQLite has no identity column off the primary key; the write lock makes MAX + 1 safe.
                values["seq"] = select(func.coalesce(func.max(jobs.c.seq), 0) + 1).scalar_subquery()
            try:
                conn.execute(jobs.insert().values(**values))
            except IntegrityError as exc:  # the id is a fresh server UUID, so this is a bug in the caller
                raise ValueError(f"a job with id {job_id} already exists") from exc
            self._notify_queued(conn)
            return to_job(self._row(conn, job_id))

    def claim_next_job(self, worker_id: str, lease_seconds: float) -> Job | None:
        with write_transaction(self._engine) as conn:
            job_id = conn.execute(
                select(jobs.c.id)
                .where(jobs.c.status == JobStatus.QUEUED.value)
                .order_by(*FIFO)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).scalar_one_or_none()
            if job_id is None:
                return None
            check_transition(JobStatus.QUEUED, JobStatus.PROCESSING)
            now = self._clock()
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == JobStatus.QUEUED.value)
                .values(
                    status=JobStatus.PROCESSING.value,
                    claimed_by=worker_id,
                    lease_expires_at=rules.lease_deadline(now, lease_seconds),
                    attempts=jobs.c.attempts + 1,
                    started_at=now,
                    progress=None,
                    updated_at=now,
                )
            )
            return to_job(self._row(conn, job_id))

    def renew_lease(self, job_id: str, worker_id: str, lease_seconds: float) -> bool:
        with write_transaction(self._engine) as conn:
            row = self._row_or_none(conn, job_id, lock=True)
            if row is None or not rules.holds(JobStatus(row["status"]), row["claimed_by"], worker_id):
                return False
            now = self._clock()
            self._set(conn, job_id, lease_expires_at=rules.lease_deadline(now, lease_seconds), updated_at=now)
            return True

    def update_progress(self, job_id: str, worker_id: str, progress: Progress) -> None:
        with write_transaction(self._engine) as conn:
            row = self._row_or_none(conn, job_id, lock=True)
            if row is None or not rules.holds(JobStatus(row["status"]), row["claimed_by"], worker_id):
                return
            self._set(conn, job_id, progress=json.dumps(progress.model_dump(mode="json")), updated_at=self._clock())

    def complete_job(
        self,
        job_id: str,
        worker_id: str,
        output_names: list[str],
        *,
        flattened: bool = False,
        region: JobRegion | None = None,
    ) -> Job:
        values: dict[str, Any] = {"output_names": json.dumps(list(output_names)), "flattened": flattened}
        if region is not None:
            values["region"] = json.dumps(dataclasses.asdict(region))
        return self._finish(job_id, worker_id, JobStatus.COMPLETE, **values)

    def fail_job(self, job_id: str, worker_id: str | None, reason: str) -> Job:
        return self._finish(job_id, worker_id, JobStatus.ERROR, error=reason)

    def mark_cancelled(self, job_id: str, worker_id: str) -> Job:
        return self._finish(job_id, worker_id, JobStatus.CANCELLED)

    def release_job(self, job_id: str, worker_id: str) -> Job:
        with write_transaction(self._engine) as conn:
            row = self._row(conn, job_id, lock=True)
            rules.check_worker_change(job_id, JobStatus(row["status"]), row["claimed_by"], worker_id, JobStatus.QUEUED)
            self._set(
                conn,
                job_id,
                status=JobStatus.QUEUED.value,
                attempts=max(0, row["attempts"] - 1),
                claimed_by=None,
                lease_expires_at=None,
                started_at=None,
                progress=None,
                updated_at=self._clock(),
                requeue_reason=RequeueReason.SHUTDOWN.value,
            )
            self._notify_queued(conn)
            return to_job(self._row(conn, job_id))

    def request_cancel(self, job_id: str, *, owner: str | None = None) -> Job:
        with write_transaction(self._engine) as conn:
            row = self._row(conn, job_id, owner=owner, lock=True)
            status = JobStatus(row["status"])
            rules.check_cancellable(job_id, status)
            now = self._clock()
            if status is JobStatus.QUEUED:
                check_transition(status, JobStatus.CANCELLED)
                self._set(
                    conn,
                    job_id,
                    status=JobStatus.CANCELLED.value,
                    cancel_requested=True,
                    finished_at=now,
                    lease_expires_at=None,
                    updated_at=now,
                )
                self._record_webhook(conn, row, now)
            else:  # processing: the worker sees the flag at its next step and calls mark_cancelled
                self._set(conn, job_id, cancel_requested=True, updated_at=now)
            return to_job(self._row(conn, job_id))

    def cancel_queued(self, *, owner: str | None = None) -> list[Job]:
        with write_transaction(self._engine) as conn:
            which = [jobs.c.status == JobStatus.QUEUED.value]
            if owner is not None:
                which.append(jobs.c.owner == owner)
            # a row locked right now is being claimed: it is running next, and a cancel of it is for its page
            rows = list(
                conn.execute(
                    select_jobs().where(*which).order_by(*FIFO).with_for_update(of=jobs, skip_locked=True)
                ).mappings()
            )
            if not rows:
                return []
            check_transition(JobStatus.QUEUED, JobStatus.CANCELLED)
            now = self._clock()
            ids = [row["id"] for row in rows]
            conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(ids), jobs.c.status == JobStatus.QUEUED.value)
                .values(status=JobStatus.CANCELLED.value, cancel_requested=True, finished_at=now, updated_at=now)
            )
            for row in rows:
                self._record_webhook(conn, row, now)
            cancelled = conn.execute(select_jobs().where(jobs.c.id.in_(ids)).order_by(*FIFO)).mappings()
            return [to_job(row) for row in cancelled]

    def undo_cancel(self, job_id: str, *, owner: str | None = None, within_seconds: float) -> Job:
        with write_transaction(self._engine) as conn:
            row = self._row(conn, job_id, owner=owner, lock=True)
            now = self._clock()
            status = JobStatus(row["status"])
            rules.check_undoable(job_id, status, row["finished_at"], bool(row["delete_requested"]), now, within_seconds)
            check_transition(JobStatus.CANCELLED, JobStatus.QUEUED)
            # the delivery announcing the cancel goes (sent or not): the job's real end gets one of its own
            conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.job_id == job_id))
            self._set(
                conn,
                job_id,
                status=JobStatus.QUEUED.value,
                cancel_requested=False,
                # the cancelled run does not count as an attempt (as for a shutdown)
                attempts=max(0, row["attempts"] - 1) if row["started_at"] is not None else row["attempts"],
                claimed_by=None,
                lease_expires_at=None,
                started_at=None,
                finished_at=None,
                progress=None,
                updated_at=now,
                requeue_reason=RequeueReason.CANCEL_UNDONE.value,
            )
            self._notify_queued(conn)
            return to_job(self._row(conn, job_id))

    def recover_expired_leases(
        self, max_attempts: int, now: datetime | None = None, *, held: Collection[str] = ()
    ) -> list[Job]:
        now = rules.require_aware(now or self._clock())
        dead = (jobs.c.status == JobStatus.PROCESSING.value) & (jobs.c.lease_expires_at < now)
        if held:
            dead &= jobs.c.id.not_in(list(held))
        return self._recover(dead, max_attempts, RequeueReason.LEASE_EXPIRED, now)

    def recover_previous_run(self, worker_name: str, worker_id: str, max_attempts: int) -> list[Job]:
        abandoned = (
            (jobs.c.status == JobStatus.PROCESSING.value)
            & jobs.c.claimed_by.startswith(f"{worker_name}/", autoescape=True)
            & (jobs.c.claimed_by != worker_id)
        )
        return self._recover(abandoned, max_attempts, RequeueReason.RESTART, self._clock())

    def _recover(
        self, which: ColumnElement[bool], max_attempts: int, reason: RequeueReason, now: datetime
    ) -> list[Job]:
        """Running jobs whose run is over (`which`): requeued, keeping their place, while attempts remain."""
        recovered: list[Job] = []
        with write_transaction(self._engine) as conn:
            rows = conn.execute(
                select(jobs.c.id, jobs.c.attempts, jobs.c.cancel_requested)
                .where(which)
                .order_by(*FIFO)
                # a row locked right now is being renewed or finished by its worker: not dead
                .with_for_update(skip_locked=True)
            ).all()
            for job_id, attempts, cancel_requested in rows:
                target, error = rules.recovery_outcome(attempts, max_attempts, bool(cancel_requested))
                check_transition(JobStatus.PROCESSING, target)
                if target is JobStatus.QUEUED:
                    changes: dict[str, Any] = {"started_at": None, "progress": None, "requeue_reason": reason.value}
                else:
                    changes = {"finished_at": now, "error": error}
                    self._record_webhook(conn, self._row(conn, job_id), now)
                self._set(
                    conn,
                    job_id,
                    status=target.value,
                    claimed_by=None,
                    lease_expires_at=None,
                    updated_at=now,
                    **changes,
                )
                recovered.append(to_job(self._row(conn, job_id)))
            if any(job.status is JobStatus.QUEUED for job in recovered):
                self._notify_queued(conn)
        return recovered

    def set_starred(self, job_id: str, starred: bool, *, owner: str | None = None) -> Job:
        with write_transaction(self._engine) as conn:
            self._row(conn, job_id, owner=owner, lock=True)
            self._set(conn, job_id, starred=starred, updated_at=self._clock())
            return to_job(self._row(conn, job_id))

    def delete_or_mark(self, job_id: str, *, owner: str | None = None) -> tuple[Job, bool]:
        with write_transaction(self._engine) as conn:
            job = to_job(self._row(conn, job_id, owner=owner, lock=True))
            if job.status is JobStatus.PROCESSING:  # its worker stops it at its next step, then deletes it
                self._set(conn, job_id, cancel_requested=True, delete_requested=True, updated_at=self._clock())
                return to_job(self._row(conn, job_id)), False
            rules.check_deletable(job_id, job.status)
            delete_job_row(conn, job_id)
            return job, True

    def delete_job(self, job_id: str) -> None:
        with write_transaction(self._engine) as conn:
            row = self._row(conn, job_id, lock=True)
            rules.check_deletable(job_id, JobStatus(row["status"]))
            delete_job_row(conn, job_id)

    # -- worker presence (the workers table) ----------------------------------------------------

    def record_worker(self, presence: WorkerPresence) -> None:
        self._workers.record(presence)

    def forget_worker(self, worker_id: str) -> None:
        self._workers.forget(worker_id)

    def workers_seen_since(self, since: datetime) -> list[WorkerPresence]:
        return self._workers.seen_since(since)

    # -- helpers ------------------------------------------------------------------------------

    def _finish(self, job_id: str, worker_id: str | None, target: JobStatus, **values: Any) -> Job:
        with write_transaction(self._engine) as conn:
            row = self._row(conn, job_id, lock=True)
            rules.check_worker_change(job_id, JobStatus(row["status"]), row["claimed_by"], worker_id, target)
            now = self._clock()
            self._set(
                conn, job_id, status=target.value, finished_at=now, lease_expires_at=None, updated_at=now, **values
            )
            self._record_webhook(conn, row, now)
            return to_job(self._row(conn, job_id))

    @staticmethod
    def _record_webhook(conn: Connection, row: RowMapping, now: datetime) -> None:
        """A job that asked for a webhook has ended: its delivery is due now, recorded in the same
        transaction as the end, so no crash can lose it (GUARANTEES.md, "Accepted means not lost")."""
        url = json.loads(row["request"]).get("webhook_url")
        if url:
            conn.execute(
                webhook_deliveries.insert().values(
                    id=str(uuid.uuid4()), job_id=row["id"], url=url, created_at=now, attempts=0, next_attempt_at=now
                )
            )

    def _notify_queued(self, conn: Connection) -> None:
        """Wake listening workers once this transaction commits (PostgreSQL; SQLite workers poll)."""
        if self._postgres:
            conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": JOBS_CHANNEL})

    @staticmethod
    def _set(conn: Connection, job_id: str, **values: Any) -> None:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))
