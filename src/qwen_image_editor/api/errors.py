"""Domain errors become HTTP errors here, and only here. `{detail}` always says what to do."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from qwen_image_editor.errors import (
    Forbidden,
    InvalidImage,
    InvalidRequest,
    InvalidTransition,
    JobNotFound,
    MalformedRequest,
    NotAuthenticated,
    QueueFull,
    QuotaExceeded,
    RequestTooLarge,
    ServerBusy,
    StorageFull,
)

RETRY_AFTER_SECONDS = "30"
BUSY_RETRY_AFTER_SECONDS = "5"  # decoding slots free up within seconds


def _status_of(exc: Exception) -> int:
    if isinstance(exc, RequestTooLarge):
        return 413
    if isinstance(exc, InvalidImage) and exc.unsupported_type:
        return 415
    if isinstance(exc, InvalidImage | MalformedRequest):
        return 400
    if isinstance(exc, InvalidRequest):
        return 422
    if isinstance(exc, JobNotFound):
        return 404
    if isinstance(exc, InvalidTransition):
        return 409
    if isinstance(exc, QueueFull | ServerBusy):
        return 503
    if isinstance(exc, QuotaExceeded):
        return 429
    if isinstance(exc, NotAuthenticated):
        return 401
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, StorageFull):
        return 507
    return 500


def error_response(exc: Exception) -> JSONResponse:
    """The one way a domain error reaches a client: its status, `{detail}`, and the headers it needs."""
    status = _status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, QuotaExceeded):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, ServerBusy):
        headers["Retry-After"] = BUSY_RETRY_AFTER_SECONDS
    elif status == 503:
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    elif status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="qie"'
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"] if part not in ("body", "query", "path"))
        problems.append(f"{where}: {error['msg']}" if where else error["msg"])
    return JSONResponse({"detail": "; ".join(problems)}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    for error in (
        InvalidRequest,
        JobNotFound,
        InvalidTransition,
        QueueFull,
        ServerBusy,
        QuotaExceeded,
        NotAuthenticated,
        Forbidden,
        StorageFull,
    ):
        app.add_exception_handler(error, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
