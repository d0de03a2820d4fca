"""Reading jobs: the job store's queries, on SQLite or PostgreSQL (the writes are in `sql`)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, RowMapping, func, select, text
from sqlalchemy.sql.elements import ColumnElement

from qwen_image_editor.errors import JobNotFound
from qwen_image_editor.jobs.records import Job
from qwen_image_editor.jobs.states import TERMINAL_STATES, JobStatus
from qwen_image_editor.store import rules
from qwen_image_editor.store.connections import read_transaction
from qwen_image_editor.store.database import engine_for
from qwen_image_editor.store.job_rows import FIFO, NEWEST_FIRST, select_jobs, to_job
from qwen_image_editor.store.schema import jobs


class SqlJobQueries:
    """The job store's reads; `SqlJobStore` adds the writes."""

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
            return to_job(self._row(conn, job_id, owner=owner))

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
                select_jobs().where(*conditions).order_by(*NEWEST_FIRST).limit(limit).offset(offset)
            ).mappings()
            return [to_job(row) for row in rows], total

    def queue_positions(self, job_ids: Sequence[str]) -> dict[str, int]:
        if not job_ids:
            return {}
        position = func.row_number().over(order_by=FIFO).label("position")
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

    def stopped_but_deleted(self) -> list[Job]:
        with read_transaction(self._engine) as conn:
            rows = conn.execute(
                select_jobs()
                .where(jobs.c.delete_requested.is_(True), jobs.c.status.in_([s.value for s in TERMINAL_STATES]))
                .order_by(*FIFO)
            ).mappings()
            return [to_job(row) for row in rows]

    def finished_before(self, cutoff: datetime) -> list[Job]:
        cutoff = rules.require_aware(cutoff)
        with read_transaction(self._engine) as conn:
            rows = conn.execute(
                select_jobs()
                .where(
                    jobs.c.status.in_([s.value for s in TERMINAL_STATES]),
                    jobs.c.finished_at < cutoff,
                    jobs.c.starred.is_(False),
                )
                .order_by(jobs.c.finished_at.asc(), jobs.c.seq.asc())
            ).mappings()
            return [to_job(row) for row in rows]

    def close(self) -> None:
        self._engine.dispose()  # a shared engine stays usable: its next use opens a new pool

    # -- helpers ------------------------------------------------------------------------------

    def _row_or_none(self, conn: Connection, job_id: str, *, lock: bool = False) -> RowMapping | None:
        query = select_jobs().where(jobs.c.id == job_id)
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
