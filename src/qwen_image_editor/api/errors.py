"""Domain errors become HTTP errors here, and only here. The message always says what to do.

Two shapes, chosen by path and nowhere else: `{detail}` for our API, and OpenAI's
`{error: {message, type, param, code}}` under `/v1/` (the OpenAI-compatible routes), so the OpenAI SDKs
raise their usual exceptions with our message."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    StorageUnavailable,
    describe_problems,
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
    if isinstance(exc, QueueFull | ServerBusy | StorageUnavailable):
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


OPENAI_PREFIX = "/v1/"
_OPENAI_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
_OPENAI_CODES = {
    401: "invalid_api_key",
    404: "not_found",
    413: "request_too_large",
    415: "unsupported_image_type",
    429: "rate_limit_exceeded",
    503: "server_busy",
    504: "timeout",
    507: "storage_full",
}


def openai_status(status: int, path: str) -> int:
    """OpenAI answers every refused parameter with 400 (its SDKs have no use for 422)."""
    return 400 if status == 422 and path.startswith(OPENAI_PREFIX) else status


def error_body(status: int, message: str, path: str, *, param: str | None = None) -> dict[str, object]:
    """The body of an error answer, in the shape the path's clients expect."""
    if not path.startswith(OPENAI_PREFIX):
        return {"detail": message}
    kind = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": _OPENAI_CODES.get(status)}}


def error_response(exc: Exception, path: str = "") -> JSONResponse:
    """The one way a domain error reaches a client: its status, its body (shaped for `path`), and the headers
    it needs."""
    status = openai_status(_status_of(exc), path)
    headers: dict[str, str] = {}
    if isinstance(exc, QuotaExceeded):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, ServerBusy):
        headers["Retry-After"] = BUSY_RETRY_AFTER_SECONDS
    elif status == 503:
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    elif status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="qie"'
    param = exc.param if isinstance(exc, InvalidRequest) else None
    return JSONResponse(error_body(status, str(exc), path, param=param), status_code=status, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(exc, request.url.path)


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own errors (unknown route, wrong method, the body cap's 413), in the path's shape."""
    assert isinstance(exc, StarletteHTTPException)
    if not request.url.path.startswith(OPENAI_PREFIX):
        return await http_exception_handler(request, exc)
    return JSONResponse(
        error_body(exc.status_code, str(exc.detail), request.url.path), status_code=exc.status_code, headers=exc.headers
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = describe_problems(exc.errors())
    param = next((str(e["loc"][-1]) for e in exc.errors() if e["loc"]), None)
    status = openai_status(422, request.url.path)
    return JSONResponse(error_body(status, problems, request.url.path, param=param), status_code=status)


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
        StorageUnavailable,
    ):
        app.add_exception_handler(error, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
