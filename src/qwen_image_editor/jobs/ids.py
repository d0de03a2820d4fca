"""Job ids are UUIDs the server makes; nothing else is ever accepted as one, nor used in a path."""

from __future__ import annotations

import uuid

from qwen_image_editor.errors import JobNotFound


def new_job_id() -> str:
    return str(uuid.uuid4())


def checked_job_id(text: str) -> str:
    """The canonical form of a job id; JobNotFound for anything that is not a UUID."""
    try:
        parsed = uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        raise JobNotFound(f"no job with id {text[:64]!r}: job ids are UUIDs made by the server") from None
    if str(parsed) != text.lower():
        raise JobNotFound(f"no job with id {text[:64]!r}: job ids are UUIDs made by the server")
    return str(parsed)
