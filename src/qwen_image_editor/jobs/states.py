"""Job states and the only transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args

from qwen_image_editor.errors import InvalidTransition


class JobStatus(StrEnum):
    """The life of a job (the original deployment's names, plus cancelled)."""

    QUEUED = "queued"  # accepted and waiting for a worker; also where a dead worker's job returns
    PROCESSING = "processing"  # claimed by a worker holding a lease
    COMPLETE = "complete"  # finished; its output files are in place
    ERROR = "error"  # failed for good; `error` says why
    CANCELLED = "cancelled"  # stopped on request, before or during its run

    @property
    def is_terminal(self) -> bool:
        """Final for its worker: nothing runs it any more (a cancel can still be undone for a moment)."""
        return self in TERMINAL_STATES


# The one statement of which states are final: the API's schema names it (`TerminalJobStatus`), so the
# page's generated types and the Python client read it from there.
TerminalJobStatus = Literal[JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.CANCELLED]
TERMINAL_STATES: frozenset[JobStatus] = frozenset(get_args(TerminalJobStatus))

ALLOWED_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.PROCESSING, JobStatus.CANCELLED, JobStatus.ERROR}),
    # back to QUEUED only when the worker's lease expired and attempts remain
    JobStatus.PROCESSING: frozenset({JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.CANCELLED, JobStatus.QUEUED}),
    JobStatus.COMPLETE: frozenset(),
    JobStatus.ERROR: frozenset(),
    # back to QUEUED only to undo the cancel, moments after it (`rules.check_undoable`)
    JobStatus.CANCELLED: frozenset({JobStatus.QUEUED}),
}


def check_transition(current: JobStatus, target: JobStatus) -> None:
    if target not in ALLOWED_TRANSITIONS[current]:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "nothing (it is final)"
        raise InvalidTransition(f"a {current} job cannot become {target}; from {current} it can become {allowed}")
