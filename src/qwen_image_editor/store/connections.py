"""The database's connections: a SQLAlchemy engine (SQLite tuned for safe concurrent use, or PostgreSQL) and the
read and write transactions every store runs in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from qwen_image_editor.errors import ServerBusy, StorageFull

# Execution option marking a connection whose transactions write: SQLite then takes the write lock
# at BEGIN (BEGIN IMMEDIATE), so a read-then-update (a claim) cannot interleave with another writer.
WRITE_OPTION = "qie_write"

# WAL: readers and one writer at a time, and a killed process loses nothing committed.
# synchronous=FULL rather than NORMAL: NORMAL in WAL mode survives a killed process but may lose the
# last commits on power loss, and "accepted means not lost". Writes are few (a job, a progress update
# per step), so an fsync per commit costs nothing we would notice.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
)

_SQLITE_FULL = 13  # SQLite's "database or disk is full"
_SQLITE_BUSY = 5  # SQLite's "database is locked": another writer held it past busy_timeout
_POSTGRES_DISK_FULL = "53100"
DATABASE_FULL_MESSAGE = (
    "the server's disk is full, so this change could not be saved; free space on it (e.g. remove old jobs' "
    "files or other files on that disk) and try again"
)
DATABASE_BUSY_MESSAGE = "the job database is busy with other changes; try again in a few seconds"


def normalise_url(url: str) -> URL:
    """Parse a database URL; a bare `postgresql://` means the psycopg (3) driver we ship."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str, **pool: int) -> Engine:
    """`pool`: `pool_size` and `max_overflow` for the connection pool (SQLAlchemy's defaults otherwise)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, **pool)
    database = parsed.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    if not database or database == ":memory:":
        pool = {}  # one connection per thread (SingletonThreadPool): there is no pool to size
    engine = create_engine(parsed, **pool)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Take BEGIN away from the sqlite3 module (it would defer it to the first write); we emit our own.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = bool(conn.get_execution_options().get(WRITE_OPTION))
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: committed on success, rolled back on any exception."""
    try:
        with engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn
    except DBAPIError as exc:
        if is_disk_full(exc):
            raise StorageFull(DATABASE_FULL_MESSAGE) from exc
        if is_locked(exc):  # a moment of contention, not a fault: the client is told to come back (503)
            raise ServerBusy(DATABASE_BUSY_MESSAGE) from exc
        raise


def is_disk_full(exc: DBAPIError) -> bool:
    """The database could not write for lack of disk space (often at COMMIT, when the WAL grows)."""
    orig = exc.orig
    if (
        getattr(orig, "sqlite_errorcode", None) == _SQLITE_FULL
        or getattr(orig, "sqlstate", None) == _POSTGRES_DISK_FULL
    ):
        return True
    return "database or disk is full" in str(orig)


def is_locked(exc: DBAPIError) -> bool:
    """SQLite waited its busy_timeout for another process's or thread's write, and gave up."""
    orig = exc.orig
    return getattr(orig, "sqlite_errorcode", None) == _SQLITE_BUSY or "database is locked" in str(orig)


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A consistent read-only snapshot."""
    with engine.connect() as conn, conn.begin():
        yield conn
