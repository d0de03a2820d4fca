"""Webhook deliveries and the signing secret, on the same SQL database as the jobs (every API node shares them).

The rows are made by the job store, in the transaction that ends a job; this store claims and settles them."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from qwen_image_editor.store import rules
from qwen_image_editor.store.base import Delivery
from qwen_image_editor.store.connections import read_transaction, write_transaction
from qwen_image_editor.store.database import engine_for
from qwen_image_editor.store.schema import server_secrets, webhook_deliveries

WEBHOOK_SECRET = "webhook_secret"


class SqlWebhookStore:
    """Claims with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock on SQLite)."""

    def __init__(self, database: str | Engine, *, clock: Callable[[], datetime] = rules.utcnow) -> None:
        """`database`: the process's engine (`open_database`), or a URL for a store of its own."""
        self._engine = engine_for(database)
        self._clock = clock

    def secret(self) -> str:
        """The per-database signing secret, made on first use (every node then reads the same one)."""
        with read_transaction(self._engine) as conn:
            value = conn.execute(
                select(server_secrets.c.value).where(server_secrets.c.name == WEBHOOK_SECRET)
            ).scalar_one_or_none()
        if value is not None:
            return str(value)
        try:
            with write_transaction(self._engine) as conn:
                conn.execute(server_secrets.insert().values(name=WEBHOOK_SECRET, value=secrets.token_urlsafe(32)))
        except IntegrityError:
            pass  # another node made it first: use theirs
        return self.secret()

    def claim_due(self, lease_seconds: float) -> Delivery | None:
        """The oldest due delivery, its next attempt pushed `lease_seconds` away while this sender tries it."""
        now = self._clock()
        with write_transaction(self._engine) as conn:
            row = (
                conn.execute(
                    select(webhook_deliveries)
                    .where(
                        webhook_deliveries.c.delivered_at.is_(None),
                        webhook_deliveries.c.given_up_at.is_(None),
                        webhook_deliveries.c.next_attempt_at <= now,
                    )
                    .order_by(webhook_deliveries.c.next_attempt_at.asc())
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                .mappings()
                .one_or_none()
            )
            if row is None:
                return None
            conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id == row["id"])
                .values(next_attempt_at=now + timedelta(seconds=lease_seconds))
            )
        return Delivery(
            id=row["id"],
            job_id=row["job_id"],
            url=row["url"],
            body=row["body"],
            created_at=row["created_at"],
            attempts=row["attempts"],
        )

    def next_due_in(self) -> float | None:
        """Seconds until the next pending delivery is due (0 if one is), None if none is pending."""
        with read_transaction(self._engine) as conn:
            due = conn.execute(
                select(webhook_deliveries.c.next_attempt_at)
                .where(webhook_deliveries.c.delivered_at.is_(None), webhook_deliveries.c.given_up_at.is_(None))
                .order_by(webhook_deliveries.c.next_attempt_at.asc())
                .limit(1)
            ).scalar_one_or_none()
        return None if due is None else max(0.0, (due - self._clock()).total_seconds())

    def save_body(self, delivery_id: str, body: str) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id).values(body=body))

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
        now = self._clock()
        values: dict[str, object] = {
            "attempts": webhook_deliveries.c.attempts + 1,
            "last_status": status,
            "last_error": error,
        }
        if delivered:
            values["delivered_at"] = now
        elif retry_at is not None:
            values["next_attempt_at"] = retry_at
        else:
            values["given_up_at"] = now
        with write_transaction(self._engine) as conn:
            conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id).values(**values))

    def close(self) -> None:
        self._engine.dispose()  # a shared engine stays usable: its next use opens a new pool
