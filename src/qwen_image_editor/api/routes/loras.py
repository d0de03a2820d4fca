from __future__ import annotations

from fastapi import APIRouter

from qwen_image_editor.api.deps import ServicesDep
from qwen_image_editor.api.schemas import LoraListResponse, LoraView

router = APIRouter(prefix="/api", tags=["service"])


@router.get("/loras")
def list_loras(services: ServicesDep) -> LoraListResponse:
    """The LoRA files in the data folder's `loras/` that a job may name (up to 3), by name."""
    return LoraListResponse(
        loras=[
            LoraView(name=lora.name, size_bytes=lora.size_bytes, matches=lora.matches, reason=lora.reason)
            for lora in services.engine.loras()
        ]
    )
