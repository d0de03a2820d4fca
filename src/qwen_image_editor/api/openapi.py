"""The OpenAPI schema, plus the WebSocket messages (FastAPI lists no WebSocket routes), so the web UI's
types for them are generated like every other type."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import Field, TypeAdapter

from qwen_image_editor.jobs.events import (
    CancelledEvent,
    CompleteEvent,
    ErrorEvent,
    ProgressEvent,
    SnapshotMessage,
    StatusEvent,
)

WsMessage = Annotated[
    SnapshotMessage | StatusEvent | ProgressEvent | CompleteEvent | ErrorEvent | CancelledEvent,
    Field(discriminator="type"),
]


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        ws_schema = TypeAdapter(WsMessage).json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(ws_schema.pop("$defs", {}))
        ws_schema["description"] = "A message on WS /ws/{job_id}: a snapshot first, then one per change."
        components["WsMessage"] = ws_schema
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]
