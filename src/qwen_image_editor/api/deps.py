"""Route dependencies: services come from the app's state (set by the lifespan), so tests can swap them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from qwen_image_editor.services import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
