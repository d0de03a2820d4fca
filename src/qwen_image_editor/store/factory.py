"""Choosing the store implementation from a URL, in one place."""

from __future__ import annotations

from sqlalchemy import Engine

from qwen_image_editor.store.base import JobStore
from qwen_image_editor.store.sql import SqlJobStore


def build_store(database: str | Engine) -> JobStore:
    """Any SQLAlchemy URL: SQLite (the default, in the data directory) or PostgreSQL; or the process's engine."""
    return SqlJobStore(database)
