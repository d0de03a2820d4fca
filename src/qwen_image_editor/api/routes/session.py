"""The web page's sign-in: a key is exchanged once for an HttpOnly session cookie, so no key ever sits in
the page's storage, in a URL or in a log."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from qwen_image_editor.accounts import Caller
from qwen_image_editor.api.access import SESSION_COOKIE
from qwen_image_editor.api.deps import ServicesDep
from qwen_image_editor.api.schemas import ErrorResponse, SessionRequest, SessionResponse

router = APIRouter(prefix="/api", tags=["session"])


def _came_over_https(request: Request) -> bool:
    # A proxy that terminates TLS says so; trusting the header only decides the cookie's Secure flag.
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
    return (
        request.url.scheme == "https" or forwarded == "https" or "proto=https" in request.headers.get("forwarded", "")
    )


def _answer(services: ServicesDep, caller: Caller | None) -> SessionResponse:
    key = caller.key if caller else None
    return SessionResponse(
        keys_required=services.access.keys_required,
        signed_in=key is not None,
        name=key.name if key else None,
        admin=bool(caller and caller.is_admin),
        expires_at=caller.session_expires_at if caller else None,
    )


@router.get("/session")
def get_session(services: ServicesDep, request: Request) -> SessionResponse:
    """Whether the server needs a key, and whom this browser is signed in as."""
    return _answer(services, request.scope["state"].get("caller"))


@router.post("/session", responses={401: {"model": ErrorResponse}, 429: {"model": ErrorResponse}})
async def sign_in(services: ServicesDep, body: SessionRequest, request: Request, response: Response) -> SessionResponse:
    """Exchange an API key for a session cookie (HttpOnly, SameSite=Strict, Secure over https)."""
    address = request.client.host if request.client else "unknown"
    token, _, caller = await run_in_threadpool(services.access.open_session, body.key, address)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(services.access.session_lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_came_over_https(request),
    )
    return _answer(services, caller)


@router.delete("/session")
async def sign_out(services: ServicesDep, request: Request, response: Response) -> SessionResponse:
    """End this browser's session (the key stays valid)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await run_in_threadpool(services.access.close_session, token)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return _answer(services, None)
