"""Per-key limits: how many jobs one key may have waiting, and how many it may submit per minute."""

from __future__ import annotations

import math
from datetime import timedelta

from qwen_image_editor.errors import QuotaExceeded
from qwen_image_editor.store.base import JobStore
from qwen_image_editor.store.rules import utcnow

WINDOW = timedelta(minutes=1)
# A key at its queued limit waits for one of its jobs to start; about one job's time at the earliest.
QUEUED_RETRY_SECONDS = 30


class KeyQuotas:
    def __init__(self, store: JobStore, *, max_queued: int, per_minute: int) -> None:
        self.store, self.max_queued, self.per_minute = store, max_queued, per_minute

    def check(self, owner: str) -> None:
        """QuotaExceeded (HTTP 429 with Retry-After) when `owner` may not submit one more job now."""
        now = utcnow()
        queued, recent = self.store.owner_load(owner, now - WINDOW)
        if queued >= self.max_queued:
            raise QuotaExceeded(
                f"this key has {queued} jobs waiting, its limit (QIE_MAX_QUEUED_PER_KEY is {self.max_queued}); "
                "wait for one to start, or cancel one",
                retry_after=QUEUED_RETRY_SECONDS,
            )
        if len(recent) >= self.per_minute:
            # The oldest submission in the window leaves it first; then there is room for one more.
            wait = math.ceil((recent[-self.per_minute] + WINDOW - now).total_seconds())
            raise QuotaExceeded(
                f"this key submitted {len(recent)} jobs in the last minute, its limit (QIE_SUBMITS_PER_MINUTE is "
                f"{self.per_minute}); try again in {max(1, wait)} s",
                retry_after=max(1, wait),
            )
