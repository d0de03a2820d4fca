"""Route dependencies: services come from the app's state (set by the lifespan), so tests can swap them;
the caller comes from the access middleware (`api/access.py`), which ran before any route."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from qwen_image_editor.accounts import Caller
from qwen_image_editor.errors import Forbidden, NotAuthenticated
from qwen_image_editor.services import Services


# Both are `async def` on purpose: they do no I/O, and a plain `def` would take a request thread (FastAPI runs it
# in the thread pool), so a route such as /api/health could not answer while those are all busy.
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_caller(request: Request) -> Caller:
    caller: Caller | None = request.scope.get("state", {}).get("caller")
    if caller is None:  # only public routes get this far without one, and they do not ask for it
        raise NotAuthenticated(request.scope.get("state", {}).get("refused") or "sign in first")
    return caller


async def get_admin(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    if not caller.is_admin:
        raise Forbidden("only admin keys may do this; the operator makes one with `qie keys create NAME --admin`")
    return caller


ServicesDep = Annotated[Services, Depends(get_services)]
CallerDep = Annotated[Caller, Depends(get_caller)]
AdminDep = Annotated[Caller, Depends(get_admin)]
