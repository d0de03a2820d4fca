"""The web UI's API types are generated from frontend/openapi.json: it must be the server's schema."""

from __future__ import annotations

import json
from pathlib import Path

from qwen_image_editor.api.app import create_app
from qwen_image_editor.settings import Settings

COMMITTED = Path(__file__).parent.parent / "frontend" / "openapi.json"


def test_committed_schema_matches_the_server() -> None:
    live = create_app(Settings(model="fake")).openapi()
    committed = json.loads(COMMITTED.read_text())
    assert committed == json.loads(json.dumps(live)), "run `make openapi` and commit the result"


def test_websocket_messages_are_in_the_schema() -> None:
    schemas = create_app(Settings(model="fake")).openapi()["components"]["schemas"]
    for name in ("WsMessage", "JobMessage", "ProgressMessage", "JobView"):
        assert name in schemas
    job_message = schemas["JobMessage"]["properties"]
    assert {"config", "outputs", "inputs", "queue_position", "attempts", "type", "event"} <= set(job_message)
