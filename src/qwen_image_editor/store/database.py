"""One database per process: a single SQLAlchemy engine (one connection pool), migrated once, that the job,
key and webhook stores share. A store given a URL instead (tests, one-off CLI commands) makes its own."""

from __future__ import annotations

from sqlalchemy import Engine

from qwen_image_editor.store.connections import make_engine
from qwen_image_editor.store.schema import migrate

# SQLAlchemy's own defaults: what a store made from a bare URL gets.
DEFAULT_POOL_SIZE = 5
DEFAULT_MAX_OVERFLOW = 10


def open_database(url: str, *, pool_size: int = DEFAULT_POOL_SIZE, max_overflow: int = DEFAULT_MAX_OVERFLOW) -> Engine:
    """The process's engine: at most `pool_size` + `max_overflow` connections at once, the schema up to date."""
    engine = make_engine(url, pool_size=pool_size, max_overflow=max_overflow)
    try:
        migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def engine_for(database: str | Engine) -> Engine:
    """The engine a store uses: the one passed in (migrated by `open_database` already), or its own."""
    if isinstance(database, Engine):
        return database
    return open_database(database)
