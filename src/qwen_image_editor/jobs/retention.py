"""How long a finished job is kept: until its owner deletes it, unless the operator set a retention."""

from __future__ import annotations

from datetime import datetime, timedelta

from qwen_image_editor.jobs.records import Job


def kept_until(job: Job, retention_hours: float) -> datetime | None:
    """When the retention sweep removes the job; None while it runs, when starred, or with no retention (0)."""
    if retention_hours <= 0 or job.starred or job.finished_at is None:
        return None
    return job.finished_at + timedelta(hours=retention_hours)
