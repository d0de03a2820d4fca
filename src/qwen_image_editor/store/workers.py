"""Worker presence: the workers table, where each worker's run says it lives and what its model is doing, so
that every API node can count the live workers and show their models."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select

from qwen_image_editor.jobs.records import WorkerPresence
from qwen_image_editor.store.connections import read_transaction, write_transaction
from qwen_image_editor.store.schema import workers

# A worker's row unheard of for this long is pruned: its run died without saying so.
WORKER_FORGOTTEN_AFTER = timedelta(days=1)


class SqlWorkers:
    """The workers table, on the process's database engine (shared with the job store)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, presence: WorkerPresence) -> None:
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

    def forget(self, worker_id: str) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(delete(workers).where(workers.c.worker_id == worker_id))

    def seen_since(self, since: datetime) -> list[WorkerPresence]:
        with read_transaction(self._engine) as conn:
            rows = conn.execute(select(workers).where(workers.c.seen_at >= since).order_by(workers.c.worker_id))
            return [WorkerPresence(**row._mapping) for row in rows]
