"""Every request and WebSocket passes here first: who is calling, and may a web page from its origin ask.

A middleware rather than a per-route dependency so that access fails closed: a route added later is
protected without anyone remembering to protect it. Only the health and readiness checks, the sign-in and the
page's own files are public.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from qwen_image_editor.accounts import Caller
from qwen_image_editor.api.errors import error_response
from qwen_image_editor.api.hosts import host_name, is_answered
from qwen_image_editor.application.access import Access
from qwen_image_editor.errors import Forbidden, NotAuthenticated, QuotaExceeded

log = logging.getLogger(__name__)

SESSION_COOKIE = "qie_session"
# /metrics is deliberately absent: when keys are required a scraper sends one (any key; Prometheus's
# `authorization: {credentials: ...}`), since it shows every user's job counts and the workers' host names, and
# an admin key would be more power than a scraper's config file should hold. Add it here to make it public.
PUBLIC_PATHS = frozenset({"/", "/api/health", "/api/health/ready", "/api/session"})
PUBLIC_PREFIXES = ("/assets/",)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LIVENESS_PATH = "/api/health"


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def key_from_headers(connection: HTTPConnection) -> str | None:
    authorization = connection.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return connection.headers.get("x-api-key") or None


def resolve_caller(access: Access, connection: HTTPConnection) -> Caller:
    """The caller by its key header, else by its session cookie, else the open mode's caller (if open)."""
    if not access.keys_required:
        return access.caller_without_credentials()  # open: whatever token a client sends (SDKs always send one)
    address = connection.client.host if connection.client else "unknown"
    key = key_from_headers(connection)
    if key is not None:
        return access.caller_with_key(key, address)
    token = connection.cookies.get(SESSION_COOKIE)
    if token:
        return access.caller_with_session(token)
    return access.caller_without_credentials()


def own_origin_hosts(connection: HTTPConnection) -> set[str]:
    """Host[:port] this server is reached at, directly or through a proxy that forwards the host."""
    hosts = {connection.headers.get("host", "")}
    forwarded = connection.headers.get("x-forwarded-host")
    if forwarded:
        hosts.add(forwarded.split(",")[0].strip())
    return {host.lower() for host in hosts} - {""}


def check_origin(connection: HTTPConnection, allowed_origins: frozenset[str], allowed_hosts: frozenset[str]) -> None:
    """A browser page from a foreign origin may not change anything nor open a socket (cross-site requests
    carry the user's cookie; programs send no Origin, or send a key, which a foreign page cannot have).
    Our own origin is the host we are reached at, if that is one of our names: under DNS rebinding a foreign
    page's origin is the request's own Host too."""
    origin = connection.headers.get("origin")
    if origin is None or origin in allowed_origins or key_from_headers(connection) is not None:
        return
    netloc = urlsplit(origin).netloc.lower()
    if netloc in own_origin_hosts(connection) and is_answered(host_name(netloc), allowed_hosts):
        return
    raise Forbidden(
        f"requests from web pages at {origin} are refused; the operator can allow that origin in QIE_CORS_ORIGINS"
    )


class AccessMiddleware:
    def __init__(self, app: ASGIApp, *, allowed_origins: frozenset[str], allowed_hosts: frozenset[str]) -> None:
        self.app = app
        self.allowed_origins = allowed_origins
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        state = scope.setdefault("state", {})
        if scope["type"] == "http" and connection.url.path == LIVENESS_PATH:
            # Liveness needs no caller, so it takes no request thread: it answers while all of them are busy.
            state["caller"] = None
            await self.app(scope, receive, send)
            return
        try:
            if scope["type"] == "websocket" or scope["method"] not in SAFE_METHODS:
                check_origin(connection, self.allowed_origins, self.allowed_hosts)
            access: Access = scope["app"].state.services.access
            state["caller"] = await run_in_threadpool(resolve_caller, access, connection)
        except (NotAuthenticated, Forbidden, QuotaExceeded) as exc:
            # A public route answers anyone: health, the page, and the sign-in (which checks its key itself).
            public_miss = isinstance(exc, NotAuthenticated | QuotaExceeded) and is_public(connection.url.path)
            if scope["type"] == "http" and not public_miss:
                await error_response(exc, connection.url.path)(scope, receive, send)
                return
            # A public route goes on without a caller; a socket is accepted, then closed with the reason.
            state["caller"], state["refused"] = None, str(exc)
        await self.app(scope, receive, send)
