from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from qwen_image_editor.api.deps import AdminDep, ServicesDep
from qwen_image_editor.api.schemas import CleanupResponse

router = APIRouter(prefix="/api", tags=["service"])


@router.post("/cleanup", tags=["service"])
def cleanup(
    services: ServicesDep, admin: AdminDep, hours: Annotated[float, Query(ge=0, le=24 * 365)] = 24
) -> CleanupResponse:
    """Delete finished jobs older than `hours` (never queued or running ones). Admin keys only."""
    report = services.cleanup.delete_older_than(hours)
    return CleanupResponse(
        deleted=report.deleted, message=f"Deleted {len(report.deleted)} jobs finished over {hours:g} hours ago"
    )
