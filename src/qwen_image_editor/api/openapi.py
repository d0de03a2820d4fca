"""The OpenAPI schema, plus the WebSocket messages and close codes (FastAPI lists no WebSocket routes) and which
job states are final, so the web UI's types for them are generated like every other type and no TypeScript
file states them again."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from qwen_image_editor.api.errors import OPENAI_PREFIX
from qwen_image_editor.api.schemas import ActivityMessage, ErrorResponse, WsCloseCode, WsMessage
from qwen_image_editor.jobs.states import TerminalJobStatus

_NAMED_SCHEMAS: list[tuple[str, Any, str]] = [
    (
        "WsMessage",
        WsMessage,
        "A message on WS /ws/{job_id}: the whole job first (`snapshot`), a small `progress` message per stage and "
        "step, the whole job at every change of state, and the whole job last (`complete`, `error` or "
        "`cancelled`), after which the server closes.",
    ),
    (
        "ActivityMessage",
        ActivityMessage,
        "A message on WS /ws: the caller's active jobs and the queue length (`active`) first and after changes, "
        "each change of one of the caller's jobs as a job message, and its running jobs' `progress`.",
    ),
    (
        "TerminalJobStatus",
        TerminalJobStatus,
        "The job states that are final: nothing runs the job any more, and WS /ws/{job_id} closes after saying so.",
    ),
    ("WsCloseCode", WsCloseCode, "Why the server closed a WebSocket (`WsCloseCodes` names each)."),
]


def _close_codes_by_name() -> dict[str, Any]:
    """Each close code as a named constant (`{not_authorised: 1008, ...}`): a page's table of them is checked
    against this type, so a code that changes here fails its type check."""
    return {
        "type": "object",
        "description": "Each WebSocket close code by name (the values of `WsCloseCode`).",
        "properties": {code.name.lower(): {"type": "integer", "const": code.value} for code in WsCloseCode},
        "required": [code.name.lower() for code in WsCloseCode],
        "additionalProperties": False,
    }


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        _declare_our_error_body(schema)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, message, description in _NAMED_SCHEMAS:
            ws_schema = TypeAdapter(message).json_schema(ref_template="#/components/schemas/{model}")
            components.update(ws_schema.pop("$defs", {}))
            components[name] = {**ws_schema, "description": description}
        components["WsCloseCode"]["x-enum-varnames"] = [code.name for code in WsCloseCode]
        components["WsCloseCodes"] = _close_codes_by_name()
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]


def _declare_our_error_body(schema: dict[str, Any]) -> None:
    """FastAPI documents 422 as its list-shaped HTTPValidationError; ours is `{detail: str}` like every error."""
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            response = operation.get("responses", {}).get("422")
            if response is not None and path.startswith(OPENAI_PREFIX):  # OpenAI's routes answer 400 instead
                del operation["responses"]["422"]
            elif response is not None:
                response["description"] = "The request is invalid; `detail` says what to change."
                response["content"] = {"application/json": {"schema": error_ref}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components.setdefault("ErrorResponse", ErrorResponse.model_json_schema())
