"""`/metrics`: this process's Prometheus metrics, the shared queue read at scrape time (see `application/metrics`).

Not public: when keys are required it takes any key (see `PUBLIC_PATHS` in `api/access.py`)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from qwen_image_editor.api.deps import ServicesDep

router = APIRouter(tags=["service"])


@router.get("/metrics", include_in_schema=False)
def metrics(services: ServicesDep) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
