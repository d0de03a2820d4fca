"""The uvicorn options `qie serve` runs with, in one place, so that the tests' live server runs the same way."""

from __future__ import annotations

from typing import Any

from qwen_image_editor.api.connection_limits import LimitedWebSocketProtocol, http_protocol
from qwen_image_editor.settings import Settings

# Idle WebSockets are pinged this often; one whose pong is this late is closed.
WS_PING_SECONDS = 20.0
# Watchers send us nothing but control frames; a large message from one is never legitimate.
WS_MAX_MESSAGE_BYTES = 64 * 1024


def uvicorn_options(settings: Settings | None = None) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` and `uvicorn.Config` (all honoured by the sans-io WebSocket), with
    the connection limits of `settings` (default: the settings' defaults)."""
    settings = settings or Settings.model_construct()
    return {
        # uvicorn's httptools and sans-io WebSocket protocols, with a header deadline, a connection cap, and
        # WebSockets that let go once closed: see connection_limits.py.
        "http": http_protocol(settings.header_timeout_seconds, settings.max_connections),
        "ws": LimitedWebSocketProtocol,
        # permessage-deflate keeps zlib state per connection (~100 KB or more) to shrink messages of a few
        # hundred bytes: memory grew with connection churn. Without it, memory stays flat.
        "ws_per_message_deflate": False,
        "ws_ping_interval": WS_PING_SECONDS,
        "ws_ping_timeout": WS_PING_SECONDS,
        "ws_max_size": WS_MAX_MESSAGE_BYTES,
        "timeout_keep_alive": 5,  # an idle keep-alive connection is closed after this many seconds
        # uvicorn would believe X-Forwarded-For from 127.0.0.1 (any local process, or a proxy that does not
        # set it, and then the client's own header): create_app believes only QIE_TRUSTED_PROXIES.
        "proxy_headers": False,
    }
