"""The HTTP and WebSocket API (FastAPI) and the built web UI."""

from qwen_image_editor.api.app import create_app

__all__ = ["create_app"]
