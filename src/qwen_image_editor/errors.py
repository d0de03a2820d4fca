"""The exception tree of the project, in one place.

QieError                      base of everything we raise on purpose
├── InvalidRequest            the caller asked for something we refuse (HTTP 422, CLI exit 2)
│   ├── MalformedRequest      a part of the request cannot be parsed at all, e.g. bad JSON (HTTP 400)
│   ├── InvalidImage          an input image is unreadable, not allowed, or too large (HTTP 400/415)
│   └── RequestTooLarge       a request body or upload is over a size cap (HTTP 413)
├── EditCancelled             a cancel was asked for; raised from the step callback
├── ModelUnavailable          the model cannot be loaded (missing weights, bad folder, ...)
├── JobNotFound               no job with that id (HTTP 404)
├── InvalidTransition         a job state change that the state table forbids (HTTP 409)
├── QueueFull                 the queue is at its cap (HTTP 503, Retry-After)
├── ServerBusy                every slot for decoding uploads stayed taken for a while (HTTP 503, Retry-After)
├── QuotaExceeded             a key is over its queued-jobs or submits-per-minute limit, or too many
│                             failed sign-ins came from one address (HTTP 429, Retry-After)
├── NotAuthenticated          the server needs a key and none (or a wrong one) was sent (HTTP 401)
├── Forbidden                 the caller is known but may not do this (HTTP 403)
├── StorageFull               the disk is full (HTTP 507)
├── StorageUnavailable        the object store holding job files cannot be reached or refuses us (HTTP 503,
│                             Retry-After)
└── OutOfMemory               the device ran out of memory during an edit
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic_core import ErrorDetails


class QieError(Exception):
    """Base class for the errors this project raises on purpose; the message is for people."""


class InvalidRequest(QieError, ValueError):
    """The request is refused; the message says what to change. `param`: the field at fault, when one is."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class MalformedRequest(InvalidRequest):
    """A part of the request cannot be parsed (e.g. `config` is not JSON); well-formed bad values are InvalidRequest."""


class InvalidImage(InvalidRequest):
    """An input image is unreadable, of a type we do not accept, or too large."""

    def __init__(self, message: str, *, unsupported_type: bool = False) -> None:
        super().__init__(message)
        self.unsupported_type = unsupported_type


class RequestTooLarge(InvalidRequest):
    """A request body or one of its parts is over the configured cap."""


class EditCancelled(QieError):
    """The edit was cancelled; the pipeline stopped at a step boundary and stays usable."""


class ModelUnavailable(QieError):
    """The model could not be loaded; the message names the model and how to fix it."""


class JobNotFound(QieError):
    """No job with this id exists (or the caller may not see it)."""


class InvalidTransition(QieError):
    """A job state change that the state table does not allow."""


class QueueFull(QieError):
    """The queue holds as many jobs as it may; try again later."""


class QuotaExceeded(QieError):
    """Too much, too fast; `retry_after` says when to try again (seconds)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotAuthenticated(QieError):
    """The server needs an API key or a session; the message says how to get one."""


class Forbidden(QieError):
    """Known caller, refused action (not an admin; a request from a foreign web page)."""


class ServerBusy(QieError):
    """The server is busy with as much work of this kind as it allows at once; try again in a few seconds."""


class StorageFull(QieError):
    """There is no space left on the data directory's disk."""


class StorageUnavailable(QieError):
    """The object store that holds the job files is unreachable, or refuses our requests. `reason` says why, for
    anyone to read (no endpoint or credentials in it: those go to the log); the message adds what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"job files cannot be stored or read now: {reason}; try again in a minute")
        self.reason = reason


class OutOfMemory(QieError):
    """The GPU (or CPU) ran out of memory during an edit; the message says how to use less."""


# FastAPI puts the part of the request first in a problem's place; the caller knows the field by its name alone.
_REQUEST_PARTS = frozenset({"body", "query", "path", "header", "cookie"})


def problem_field(problem: ErrorDetails, names: Mapping[str, str] | None = None, whole: str = "") -> str:
    """The field a pydantic problem is about, as the caller named it (`names` maps ours to theirs: a CLI option,
    an OpenAI parameter); `whole` when it is about the whole object."""
    field = ".".join(str(part) for part in problem["loc"] if part not in _REQUEST_PARTS)
    return (names or {}).get(field, field) or whole


def describe_problems(problems: Iterable[ErrorDetails], names: Mapping[str, str] | None = None, whole: str = "") -> str:
    """The one wording of pydantic's problems for people: `field: what is wrong`, joined by `; `, without
    pydantic's "Value error, " prefix (our validators' messages say what to change on their own)."""
    described = []
    for problem in problems:
        field = problem_field(problem, names, whole)
        message = str(problem["msg"]).removeprefix("Value error, ")
        described.append(f"{field}: {message}" if field else message)
    return "; ".join(described)
