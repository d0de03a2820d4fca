"""`create_app(settings)`: the FastAPI application with its services, routes, errors and the web UI."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from qwen_image_editor import __version__
from qwen_image_editor.api.access import AccessMiddleware
from qwen_image_editor.api.body_limit import BodyLimitMiddleware
from qwen_image_editor.api.errors import install_error_handlers
from qwen_image_editor.api.hosts import AllowedHostsMiddleware
from qwen_image_editor.api.openapi import install_openapi
from qwen_image_editor.api.routes import (
    activity,
    cleanup,
    edit,
    health,
    jobs,
    loras,
    metrics,
    openai_images,
    session,
    ws,
)
from qwen_image_editor.api.security_headers import SecurityHeadersMiddleware
from qwen_image_editor.services import Services, build_services
from qwen_image_editor.settings import Settings

log = logging.getLogger(__name__)

STATIC_DIR = Path(str(files("qwen_image_editor") / "static"))
_NO_UI = """<!doctype html><title>Qwen Image Editor</title><h1>Qwen Image Editor</h1>
<p>The web UI is not built. Run <code>make run</code> (it builds it), or use the API: <a href="/docs">/docs</a>.</p>"""


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or (services.settings if services else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        active = services or build_services(settings)
        app.state.services = active
        active.start_background()
        if active.engine.is_demo:
            log.warning("model %s has RANDOM weights: outputs are noise", active.engine.model_id)
        try:
            yield
        finally:
            watch = getattr(app.state, "credential_watch", None)  # made by the first socket, if any came
            if watch is not None:
                watch.close()
            active.close()

    app = FastAPI(
        title="Qwen Image Editor",
        version=__version__,
        description="Queue image edits with the Qwen-Image-Edit models and follow them live.",
        lifespan=lifespan,
    )
    # Outermost last: the client's address from trusted proxies, headers on every answer, our host names
    # only, then CORS (so refusals reach allowed pages readably), then access (who is calling), then the body
    # cap (an unknown caller's upload is never read).
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_upload_bytes,
        timeout_seconds=settings.body_timeout_seconds,
        deadline_seconds=settings.body_deadline_seconds,
    )
    app.add_middleware(
        AccessMiddleware, allowed_origins=frozenset(settings.cors_origins), allowed_hosts=settings.answered_hosts
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,  # listed origins only; never "*", since cookies may ride along
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        expose_headers=["Content-Disposition", "Retry-After"],
        max_age=600,
    )
    app.add_middleware(AllowedHostsMiddleware, allowed_hosts=settings.answered_hosts)
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.trusted_proxies:  # outermost: every layer sees the client's address, not the proxy's
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    install_error_handlers(app)
    for module in (health, session, edit, jobs, loras, cleanup, activity, ws, openai_images, metrics):
        app.include_router(module.router)
    install_openapi(app)
    _serve_web_ui(app)
    return app


def _serve_web_ui(app: FastAPI) -> None:
    index = STATIC_DIR / "index.html"
    if (STATIC_DIR / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=STATIC_DIR / "assets"), name="assets")

    @app.get("/", include_in_schema=False, response_model=None)
    def web_ui() -> FileResponse | HTMLResponse:
        return FileResponse(index) if index.is_file() else HTMLResponse(_NO_UI)
