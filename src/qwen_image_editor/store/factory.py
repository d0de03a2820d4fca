"""Choosing the store implementation from a URL, in one place."""

from __future__ import annotations

from qwen_image_editor.store.base import JobStore
from qwen_image_editor.store.memory import MemoryJobStore
from qwen_image_editor.store.sql import SqlJobStore

MEMORY_URL = "memory://"


def build_store(url: str) -> JobStore:
    """`memory://` keeps jobs in this process only (tests); any SQLAlchemy URL gives the SQL store."""
    if url == MEMORY_URL:
        return MemoryJobStore()
    return SqlJobStore(url)
