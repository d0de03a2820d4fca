"""Writes the server's OpenAPI schema to frontend/openapi.json, from which the UI's types are generated."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from qwen_image_editor.api.app import create_app
from qwen_image_editor.settings import Settings


def main(out: str = "frontend/openapi.json") -> None:
    schema = create_app(Settings(model="tiny")).openapi()
    Path(out).write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
