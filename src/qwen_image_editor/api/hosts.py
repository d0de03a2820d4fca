"""Which host names this server answers to: the defence against DNS rebinding.

A web page on a name its owner controls can point that name at 127.0.0.1 (or any address of ours) and then
call us as its own origin: the browser sends `Host: evil.test` and `Origin: http://evil.test`, so comparing
the two proves nothing. Only a list of our own names (QIE_ALLOWED_HOSTS plus the loopback names and the bind
address) tells such a request apart.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from qwen_image_editor.api.errors import error_response
from qwen_image_editor.api.schemas import WsCloseCode
from qwen_image_editor.errors import MalformedRequest

# Probes of load balancers and orchestrators name the machine by its address (Kubernetes: the pod's IP);
# these answer anyone and change nothing.
HEALTH_PATHS = frozenset({"/api/health", "/api/health/ready"})


def host_name(netloc: str) -> str | None:
    """The name in a `Host` header or an origin's host[:port]: lower case, IPv6 without brackets; None if invalid."""
    try:
        parsed = urlsplit(f"//{netloc}")
        parsed.port  # noqa: B018 (a malformed port raises here)
    except ValueError:
        return None
    return parsed.hostname or None


def is_answered(name: str | None, allowed: Collection[str]) -> bool:
    if name is None:
        return False
    if "*" in allowed or name in allowed:
        return True
    return any(pattern.startswith("*.") and name.endswith(pattern[1:]) for pattern in allowed)


class AllowedHostsMiddleware:
    """A request or WebSocket naming a host not in the list gets 400 (a socket: closed NOT_AUTHORISED), saying
    what to set."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: frozenset[str]) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in HEALTH_PATHS:
            await self.app(scope, receive, send)
            return
        host = HTTPConnection(scope).headers.get("host", "")
        if is_answered(host_name(host), self.allowed_hosts):
            await self.app(scope, receive, send)
            return
        refusal = MalformedRequest(
            f"this server does not answer to the host name in `Host: {host[:100]}` (a web page reaching it under a "
            "name of its own could be a DNS-rebinding attack); if that is one of this server's names, the operator "
            "adds it to QIE_ALLOWED_HOSTS"
        )
        if scope["type"] == "websocket":  # refused before the handshake: the client sees 403
            reason = "unknown Host; see QIE_ALLOWED_HOSTS"
            await send({"type": "websocket.close", "code": WsCloseCode.NOT_AUTHORISED.value, "reason": reason})
            return
        await error_response(refusal, scope["path"])(scope, receive, send)
