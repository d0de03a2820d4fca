"""The job store on a SQL database through SQLAlchemy Core: SQLite (the default) or PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, Select, case, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.errors import JobNotFound
from qwen_image_editor.jobs.records import (
    Job,
    JobRegion,
    Progress,
    RequeueReason,
    WebhookState,
    WebhookStatus,
    WorkerPresence,
)
from qwen_image_editor.jobs.states import TERMINAL_STATES, JobStatus, check_transition
from qwen_image_editor.store import rules
from qwen_image_editor.store.database import engine_for
from qwen_image_editor.store.engine import read_transaction, write_transaction
from qwen_image_editor.store.notify import JOBS_CHANNEL
from qwen_image_editor.store.schema import jobs, webhook_deliveries, workers

# Serialises queue-cap checks on PostgreSQL, whose READ COMMITTED would let two inserts both see room.
_PG_QUEUE_CAP_LOCK = 0x51E0002

# A worker's row unheard of for this long is pruned: its run died without saying so.
WORKER_FORGOTTEN_AFTER = timedelta(days=1)

# FIFO: oldest first; equal timestamps are broken by insertion order. A job whose cancel was undone goes ahead of
# the rest (it was running, or about to, a moment ago); it says so in `requeue_reason`, so no column is needed.
_FIFO = (
    case((jobs.c.requeue_reason == RequeueReason.CANCEL_UNDONE.value, 0), else_=1).asc(),
    jobs.c.created_at.asc(),
    jobs.c.seq.asc(),
)
_NEWEST_FIRST = (jobs.c.created_at.desc(), jobs.c.seq.desc())

# A job's webhook delivery rides along every job read (one row per job at most), so a page of jobs with
# their webhooks is still one query.
_WEBHOOK_COLUMNS = (
    webhook_deliveries.c.url.label("webhook_url"),
    webhook_deliveries.c.attempts.label("webhook_attempts"),
    webhook_deliveries.c.last_status.label("webhook_last_status"),
    webhook_deliveries.c.last_error.label("webhook_last_error"),
    webhook_deliveries.c.delivered_at.label("webhook_delivered_at"),
    webhook_deliveries.c.given_up_at.label("webhook_given_up_at"),
)


def _select_jobs() -> Select[Any]:
    return select(jobs, *_WEBHOOK_COLUMNS).select_from(
        jobs.outerjoin(webhook_deliveries, webhook_deliveries.c.job_id == jobs.c.id)
    )


class SqlJobStore:
    """JobStore on SQLite (WAL, BEGIN IMMEDIATE writes) or PostgreSQL (row locks, SKIP LOCKED claims)."""

    def __init__(self, database: str | Engine, *, clock: Callable[[], datetime] = rules.utcnow) -> None:
        """`database`: the process's engine (`open_database`), or a URL for a store of its own."""
        self._engine = engine_for(database)
        self._clock = clock
        self._postgres = self._engine.dialect.name == "postgresql"

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    # -- reading ------------------------------------------------------------------------------

    def get_job(self, job_id: str, *, owner: str | None = None) -> Job:
        with read_transaction(self._engine) as conn:
            return _to_job(self._row(conn, job_id, owner=owner))

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
        conditions: list[ColumnElement[bool]] = [jobs.c.delete_requested.is_(False)]  # deleted, going when stopped
        if status is not None:
            statuses = [status] if isinstance(status, JobStatus) else list(status)
            conditions.append(jobs.c.status.in_([s.value for s in statuses]))
        if owner is not None:
            conditions.append(jobs.c.owner == owner)
        if search:
            conditions.append(jobs.c.prompt.icontains(search, autoescape=True))
        if starred is not None:
            conditions.append(jobs.c.starred.is_(starred))
        with read_transaction(self._engine) as conn:
            total = conn.execute(select(func.count()).select_from(jobs).where(*conditions)).scalar_one()
            rows = conn.execute(
                _select_jobs().where(*conditions).order_by(*_NEWEST_FIRST).limit(limit).offset(offset)
            ).mappings()
            return [_to_job(row) for row in rows], total

    def queue_positions(self, job_ids: Sequence[str]) -> dict[str, int]:
        if not job_ids:
            return {}
        position = func.row_number().over(order_by=_FIFO).label("position")
        queue = select(jobs.c.id, position).where(jobs.c.status == JobStatus.QUEUED.value).subquery()
        with read_transaction(self._engine) as conn:
            rows = conn.execute(select(queue.c.id, queue.c.position).where(queue.c.id.in_(list(job_ids))))
            return {job_id: int(place) for job_id, place in rows}

    def owner_load(self, owner: str, since: datetime) -> tuple[int, list[datetime]]:
        with read_transaction(self._engine) as conn:
            queued = conn.execute(
                select(func.count())
                .select_from(jobs)
                .where(jobs.c.owner == owner, jobs.c.status == JobStatus.QUEUED.value)
            ).scalar_one()
            recent = conn.execute(
                select(jobs.c.created_at)
                .where(jobs.c.owner == owner, jobs.c.created_at >= rules.require_aware(since))
                .order_by(jobs.c.created_at.asc())
            ).scalars()
            return int(queued), list(recent)

    def ping(self) -> None:
        with read_transaction(self._engine) as conn:
            conn.execute(text("SELECT 1"))

    def count_by_status(self) -> dict[JobStatus, int]:
        counts = dict.fromkeys(JobStatus, 0)
        with read_transaction(self._engine) as conn:
            for status, count in conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status)):
                counts[JobStatus(status)] = int(count)
        return counts

    def is_cancel_requested(self, job_id: str) -> bool:
        with read_transaction(self._engine) as conn:
            flag = conn.execute(select(jobs.c.cancel_requested).where(jobs.c.id == job_id)).one_or_none()
        if flag is None:
            raise JobNotFound(f"no job {job_id}")
        return bool(flag[0])

    def finished_before(self, cutoff: datetime) -> list[Job]:
        cutoff = rules.require_aware(cutoff)
        with read_transaction(self._engine) as conn:
            rows = conn.execute(
                _select_jobs()
                .where(
                    jobs.c.status.in_([s.value for s in TERMINAL_STATES]),
                    jobs.c.finished_at < cutoff,
                    jobs.c.starred.is_(False),
                )
                .order_by(jobs.c.finished_at.asc(), jobs.c.seq.asc())
            ).mappings()
            return [_to_job(row) for row in rows]

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
            return _to_job(self._row(conn, job_id))

    def claim_next_job(self, worker_id: str, lease_seconds: float) -> Job | None:
        with write_transaction(self._engine) as conn:
            job_id = conn.execute(
                select(jobs.c.id)
                .where(jobs.c.status == JobStatus.QUEUED.value)
                .order_by(*_FIFO)
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
            return _to_job(self._row(conn, job_id))

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
            return _to_job(self._row(conn, job_id))

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
            return _to_job(self._row(conn, job_id))

    def cancel_queued(self, *, owner: str | None = None) -> list[Job]:
        with write_transaction(self._engine) as conn:
            which = [jobs.c.status == JobStatus.QUEUED.value]
            if owner is not None:
                which.append(jobs.c.owner == owner)
            # a row locked right now is being claimed: it is running next, and a cancel of it is for its page
            rows = list(
                conn.execute(
                    _select_jobs().where(*which).order_by(*_FIFO).with_for_update(of=jobs, skip_locked=True)
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
            cancelled = conn.execute(_select_jobs().where(jobs.c.id.in_(ids)).order_by(*_FIFO)).mappings()
            return [_to_job(row) for row in cancelled]

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
            return _to_job(self._row(conn, job_id))

    def recover_expired_leases(self, max_attempts: int, now: datetime | None = None) -> list[Job]:
        now = rules.require_aware(now or self._clock())
        dead = (jobs.c.status == JobStatus.PROCESSING.value) & (jobs.c.lease_expires_at < now)
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
                .order_by(*_FIFO)
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
                recovered.append(_to_job(self._row(conn, job_id)))
            if any(job.status is JobStatus.QUEUED for job in recovered):
                self._notify_queued(conn)
        return recovered

    def set_starred(self, job_id: str, starred: bool, *, owner: str | None = None) -> Job:
        with write_transaction(self._engine) as conn:
            self._row(conn, job_id, owner=owner, lock=True)
            self._set(conn, job_id, starred=starred, updated_at=self._clock())
            return _to_job(self._row(conn, job_id))

    def delete_or_mark(self, job_id: str, *, owner: str | None = None) -> tuple[Job, bool]:
        with write_transaction(self._engine) as conn:
            job = _to_job(self._row(conn, job_id, owner=owner, lock=True))
            if job.status is JobStatus.PROCESSING:  # its worker stops it at its next step, then deletes it
                self._set(conn, job_id, cancel_requested=True, delete_requested=True, updated_at=self._clock())
                return _to_job(self._row(conn, job_id)), False
            rules.check_deletable(job_id, job.status)
            _delete_job_row(conn, job_id)
            return job, True

    def delete_job(self, job_id: str) -> None:
        with write_transaction(self._engine) as conn:
            row = self._row(conn, job_id, lock=True)
            rules.check_deletable(job_id, JobStatus(row["status"]))
            _delete_job_row(conn, job_id)

    def record_worker(self, presence: WorkerPresence) -> None:
        values = {
            "model": presence.model,
            "model_state": presence.model_state,
            "model_error": presence.model_error,
            "device": presence.device,
            "seen_at": presence.seen_at,
        }
        with write_transaction(self._engine) as conn:  # one process per worker id: no one races this row
            updated = conn.execute(workers.update().where(workers.c.worker_id == presence.worker_id).values(**values))
            if updated.rowcount == 0:
                conn.execute(workers.insert().values(worker_id=presence.worker_id, **values))
            # runs that died without a word (a clean stop removes its own row): each heartbeat prunes them
            conn.execute(delete(workers).where(workers.c.seen_at < presence.seen_at - WORKER_FORGOTTEN_AFTER))

    def forget_worker(self, worker_id: str) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(delete(workers).where(workers.c.worker_id == worker_id))

    def workers_seen_since(self, since: datetime) -> list[WorkerPresence]:
        with read_transaction(self._engine) as conn:
            rows = conn.execute(select(workers).where(workers.c.seen_at >= since).order_by(workers.c.worker_id))
            return [WorkerPresence(**row._mapping) for row in rows]

    def close(self) -> None:
        self._engine.dispose()  # a shared engine stays usable: its next use opens a new pool

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
            return _to_job(self._row(conn, job_id))

    def _row_or_none(self, conn: Connection, job_id: str, *, lock: bool = False) -> RowMapping | None:
        query = _select_jobs().where(jobs.c.id == job_id)
        if lock:
            # a row lock on PostgreSQL (the job's row: the joined side may be absent); SQLite holds the write lock
            query = query.with_for_update(of=jobs)
        return conn.execute(query).mappings().one_or_none()

    def _row(self, conn: Connection, job_id: str, *, owner: str | None = None, lock: bool = False) -> RowMapping:
        row = self._row_or_none(conn, job_id, lock=lock)
        # someone else's job looks exactly like a missing one
        if row is None or (owner is not None and row["owner"] != owner):
            raise JobNotFound(f"no job {job_id}")
        return row

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


def _delete_job_row(conn: Connection, job_id: str) -> None:
    """A job's record goes with its webhook delivery (sent or not: nobody can ask about it any more)."""
    conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.job_id == job_id))
    conn.execute(delete(jobs).where(jobs.c.id == job_id))


def _to_job(row: RowMapping) -> Job:
    progress = row["progress"]
    return Job(
        id=row["id"],
        status=JobStatus(row["status"]),
        request=EditRequest.model_validate(json.loads(row["request"])),
        input_count=row["input_count"],
        created_at=row["created_at"],
        owner=row["owner"],
        progress=Progress.model_validate(json.loads(progress)) if progress is not None else None,
        error=row["error"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        attempts=row["attempts"],
        claimed_by=row["claimed_by"],
        lease_expires_at=row["lease_expires_at"],
        cancel_requested=bool(row["cancel_requested"]),
        delete_requested=bool(row["delete_requested"]),
        flattened=bool(row["flattened"]),
        output_names=list(json.loads(row["output_names"])),
        original_sizes=[(int(w), int(h)) for w, h in json.loads(row["original_sizes"] or "[]")],
        starred=bool(row["starred"]),
        requeue_reason=RequeueReason(row["requeue_reason"]) if row["requeue_reason"] else None,
        webhook=_to_webhook(row),
        region=_to_region(row["region"]),
    )


def _to_region(stored: str | None) -> JobRegion | None:
    if stored is None:
        return None
    fields = json.loads(stored)
    crop_box = fields["crop_box"]
    return JobRegion(
        approach=str(fields["approach"]),
        crop_box=None if crop_box is None else (int(crop_box[0]), int(crop_box[1]), int(crop_box[2]), int(crop_box[3])),
        working_size=(int(fields["working_size"][0]), int(fields["working_size"][1])),
    )


def _to_webhook(row: RowMapping) -> WebhookState | None:
    if row["webhook_url"] is None:
        return None
    if row["webhook_delivered_at"] is not None:
        status = WebhookStatus.DELIVERED
    elif row["webhook_given_up_at"] is not None:
        status = WebhookStatus.FAILED
    else:
        status = WebhookStatus.RETRYING if row["webhook_attempts"] else WebhookStatus.PENDING
    return WebhookState(
        url=row["webhook_url"],
        status=status,
        attempts=row["webhook_attempts"],
        last_status=row["webhook_last_status"],
        last_error=row["webhook_last_error"],
    )
