"""The jobs table, its schema version, and the migrations that bring an older database up to date."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Dialect

from qwen_image_editor.errors import QieError
from qwen_image_editor.store.connections import write_transaction

SCHEMA_VERSION = 9


class SchemaVersionError(QieError, RuntimeError):
    """The database was written by a newer version of this program (or is not ours)."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store only accepts timezone-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    # Insertion order: breaks ties between equal created_at so FIFO and queue positions agree exactly.
    # An identity column on PostgreSQL; SQLite has no non-key autoincrement, so the store fills it in
    # inside its (BEGIN IMMEDIATE, hence serialised) insert transaction.
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), Identity(), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("request", Text, nullable=False),  # EditRequest as JSON
    Column("input_count", Integer, nullable=False),
    Column("owner", String(128), nullable=True),
    Column("progress", Text, nullable=True),  # Progress as JSON
    Column("error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_by", String(255), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("output_names", Text, nullable=False, default="[]"),  # list of file names as JSON
    # [[width, height], ...] of the uploads as sent, when inputs are stored smaller (JSON; since version 2)
    Column("original_sizes", Text, nullable=True),
    # Kept whatever the retention (since version 3).
    Column("starred", Boolean, nullable=False, default=False, server_default=text("false")),
    # The request's prompt, searchable without parsing JSON (since version 3).
    Column("prompt", Text, nullable=False, default="", server_default=""),
    # Why the job went back to the queue last: a RequeueReason value, NULL if it never did (since version 4).
    Column("requeue_reason", String(16), nullable=True),
    # Deleted while it ran: its record and files go once its worker lets go of it (since version 7).
    Column("delete_requested", Boolean, nullable=False, default=False, server_default=text("false")),
    # Its result had transparency and was flattened on white for JPEG, which has none (since version 8).
    Column("flattened", Boolean, nullable=False, default=False, server_default=text("false")),
    # Its edit region when a mask came with it: {approach, crop_box, working_size} as JSON (since version 9).
    Column("region", Text, nullable=True),
)
Index("ix_jobs_status_created_at", jobs.c.status, jobs.c.created_at, jobs.c.seq)
Index("ix_jobs_owner", jobs.c.owner, jobs.c.created_at)

# API keys (since version 2). Only a hash of each key is kept: a leaked database lets nobody in.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(36), primary_key=True),  # what jobs record as their owner
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),  # SHA-256 hex of the key
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
)

# Web page sessions, each made from a key (since version 2); they end with their key.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # SHA-256 hex of the cookie's token
    Column("key_id", String(36), ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# One row per job that ended with a `webhook_url` (since version 5), written in the same transaction as the
# job's end, so a crash cannot lose it. `next_attempt_at` doubles as the claim's lease: a sender pushes it
# past its timeout before sending, so a sender that dies leaves the row due again, and no two send at once.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),  # the X-QIE-Delivery header: receivers deduplicate on it
    Column("job_id", String(36), nullable=False, unique=True),  # no foreign key; deleted with its job (store)
    Column("url", Text, nullable=False),
    Column("body", Text, nullable=True),  # the job view as first sent (JSON), so every retry sends the same bytes
    Column("created_at", UTCDateTime, nullable=False),  # when the job ended: give-up time counts from here
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_status", Integer, nullable=True),  # the receiver's last HTTP status; NULL if none answered
    Column("last_error", Text, nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("given_up_at", UTCDateTime, nullable=True),
)
Index("ix_webhook_deliveries_due", webhook_deliveries.c.delivered_at, webhook_deliveries.c.next_attempt_at)

# Values made once per database and shared by every node (since version 5): the webhook signing secret.
server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Every worker process's last word (since version 6): API nodes show the GPU workers' model state from it.
workers = Table(
    "workers",
    metadata,
    Column("worker_id", String(255), primary_key=True),  # `<lasting name>/<run>`, as jobs record it
    Column("model", String(255), nullable=False),
    Column("model_state", String(16), nullable=False),
    Column("model_error", Text, nullable=True),
    Column("device", String(64), nullable=False),
    Column("seen_at", UTCDateTime, nullable=False, index=True),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", UTCDateTime, nullable=False),
)


# One function per step: MIGRATIONS[n] takes a version-n database to version n+1, inside the
# migration transaction. Keep `metadata` above describing the newest version, which fresh databases get
# directly.
def _to_version_2(conn: Connection) -> None:
    """Keys and sessions arrive; jobs may record the sizes their inputs were uploaded at."""
    conn.execute(text("ALTER TABLE jobs ADD COLUMN original_sizes TEXT"))
    conn.execute(text("DROP INDEX ix_jobs_owner"))  # now with created_at, for per-key submit rates
    conn.execute(text("CREATE INDEX ix_jobs_owner ON jobs (owner, created_at)"))
    metadata.create_all(conn, tables=[api_keys, sessions])


def _to_version_3(conn: Connection) -> None:
    """Jobs can be starred, and searched by prompt."""
    conn.execute(text("ALTER TABLE jobs ADD COLUMN starred BOOLEAN NOT NULL DEFAULT false"))
    conn.execute(text("ALTER TABLE jobs ADD COLUMN prompt TEXT NOT NULL DEFAULT ''"))
    for job_id, request in conn.execute(select(jobs.c.id, jobs.c.request)).all():
        prompt = str(json.loads(request).get("prompt", ""))
        conn.execute(jobs.update().where(jobs.c.id == job_id).values(prompt=prompt))


def _to_version_4(conn: Connection) -> None:
    """Jobs say why they were requeued (the page shows "requeued after a restart")."""
    conn.execute(text("ALTER TABLE jobs ADD COLUMN requeue_reason VARCHAR(16)"))


def _to_version_5(conn: Connection) -> None:
    """Jobs may carry a webhook: its deliveries and the secret that signs them."""
    metadata.create_all(conn, tables=[webhook_deliveries, server_secrets])


def _to_version_6(conn: Connection) -> None:
    """Workers say what they are doing, for the API nodes that run no model."""
    metadata.create_all(conn, tables=[workers])


def _to_version_7(conn: Connection) -> None:
    """A running job can be deleted without waiting for it to stop: it is marked, and goes when it stops."""
    conn.execute(text("ALTER TABLE jobs ADD COLUMN delete_requested BOOLEAN NOT NULL DEFAULT false"))


def _to_version_8(conn: Connection) -> None:
    """A job records that its result lost its transparency to JPEG (flattened on white); its view says so."""
    conn.execute(text("ALTER TABLE jobs ADD COLUMN flattened BOOLEAN NOT NULL DEFAULT false"))


def _to_version_9(conn: Connection) -> None:
    """A job may edit only a region of image 1 (its mask is a job file); it records how and where."""
    conn.execute(text("ALTER TABLE jobs ADD COLUMN region TEXT"))


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _to_version_2,
    2: _to_version_3,
    3: _to_version_4,
    4: _to_version_5,
    5: _to_version_6,
    6: _to_version_7,
    7: _to_version_8,
    8: _to_version_9,
}

# Any fixed number: serialises concurrent start-ups migrating the same PostgreSQL database.
_PG_MIGRATION_LOCK = 0x51E0001


def current_version(conn: Connection) -> int | None:
    """The version recorded in the database, or None for an empty database."""
    if not inspect(conn).has_table("schema_version"):
        return None
    return conn.execute(select(func.max(schema_version.c.version))).scalar_one_or_none()


def migrate(engine: Engine) -> int:
    """Create the tables in an empty database or step an older one up to SCHEMA_VERSION; return it.

    Refuses a database newer than this code (an older program must not write to it)."""
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        version = current_version(conn)
        if version is None:
            if inspect(conn).has_table("jobs"):
                raise SchemaVersionError(
                    "the database has a jobs table but no schema_version table, so it was not made by "
                    "qwen-image-editor; point QIE_DATABASE_URL at a new database"
                )
            metadata.create_all(conn)
            _record(conn, SCHEMA_VERSION)
            return SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the database is at schema version {version} but this program only knows up to "
                f"{SCHEMA_VERSION}; upgrade qwen-image-editor (or use a different database)"
            )
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](conn)
            version += 1
            _record(conn, version)
        return version


def _record(conn: Connection, version: int) -> None:
    conn.execute(schema_version.insert().values(version=version, applied_at=datetime.now(UTC)))
