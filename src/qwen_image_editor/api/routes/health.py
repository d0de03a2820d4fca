from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from fastapi import APIRouter, Response

from qwen_image_editor import __version__
from qwen_image_editor import edit_request as limits
from qwen_image_editor.api.deps import ServicesDep
from qwen_image_editor.api.schemas import HealthResponse, LicenseView, LimitsResponse, ReadinessResponse
from qwen_image_editor.engine.base import ModelState
from qwen_image_editor.imaging import ACCEPTED_MEDIA_TYPES, STORED_INPUT_PIXELS
from qwen_image_editor.model_families import Capabilities
from qwen_image_editor.services import Services

router = APIRouter(prefix="/api", tags=["service"])


# Liveness reads the database on threads of its own: the request threads may all be taken (downloads from a
# hung store, slow requests), and a load balancer must still hear that the process lives. Threads start lazily.
_HEALTH_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="qie-health")


@router.get("/health")
async def health(services: ServicesDep) -> HealthResponse:
    """Liveness and the model's state; answers while the model loads. An API node, which runs no model,
    reports the model of the GPU workers behind it instead."""
    return await asyncio.get_running_loop().run_in_executor(_HEALTH_THREADS, _health, services)


def _health(services: Services) -> HealthResponse:
    engine = services.engine
    health = HealthResponse(
        version=__version__,
        model=engine.model_id,
        model_state=engine.state,
        model_error=engine.load_error,
        device=engine.device,
        queue_length=services.jobs.queue_length(),
        demo=engine.is_demo,
        worker_alive=services.worker_alive,
        keys_required=services.access.keys_required,
        license=license_view(services.capabilities),
        warning=_warning(services),
    )
    if services.settings.worker_enabled:
        return health
    gpu = services.jobs.live_workers_model(services.settings.heartbeat_seconds)
    if gpu is None:
        return health.model_copy(
            update={
                "model_state": ModelState.NOT_LOADED,
                "device": "no worker",
                "warning": health.warning or _NO_WORKER,
            }
        )
    update = {"workers": gpu.count, "model": gpu.model, "model_state": gpu.state, "model_error": gpu.error}
    return health.model_copy(update={**update, "device": gpu.device})


@router.get("/health/ready", responses={503: {"model": ReadinessResponse, "description": "Not ready"}})
def ready(services: ServicesDep, response: Response) -> ReadinessResponse:
    """Readiness for a load balancer: 200 when the database and the job files are reachable, else 503."""
    problems = services.readiness_problems()
    if problems:
        response.status_code = 503
    return ReadinessResponse(ready=not problems, problems=problems)


_NO_WORKER = (
    "no GPU worker has been heard from in the last minute: jobs wait in the queue until one runs "
    "(`qie worker` with this server's database)"
)


def _warning(services: Services) -> str | None:
    access = services.access
    if access.always_require_keys and not access.keys_exist:
        return "no API key exists, so nobody can use this server; make one with `qie keys create NAME --admin`"
    if services.settings.insecure_no_auth and not access.keys_required:
        return (
            "started with --insecure-no-auth and no API keys: anyone who can reach this server can use it. "
            "Make a key with `qie keys create NAME --admin`."
        )
    return None


@router.get("/limits")
def get_limits(services: ServicesDep) -> LimitsResponse:
    """Limits and defaults of an edit request, for forms."""
    settings = services.settings
    capabilities = services.capabilities
    return LimitsResponse(
        model_name=capabilities.name,
        family=capabilities.family,
        license=license_view(capabilities),
        min_images=capabilities.min_images,
        max_images=capabilities.max_images,
        text_to_image=capabilities.text_to_image,
        alpha=capabilities.alpha,
        fast=capabilities.fast.description,
        no_previews_because=capabilities.no_previews_because,
        max_prompt_chars=limits.MAX_PROMPT_CHARS,
        max_negative_prompt_chars=limits.MAX_NEGATIVE_PROMPT_CHARS,
        min_steps=limits.MIN_STEPS,
        max_steps=limits.MAX_STEPS,
        default_steps=capabilities.default_steps,
        min_cfg=capabilities.min_cfg,
        max_cfg=capabilities.max_cfg,
        default_cfg=capabilities.default_cfg,
        max_seed=limits.MAX_SEED,
        output_formats=list(limits.OutputFormat),
        accepted_types=list(ACCEPTED_MEDIA_TYPES),
        max_upload_bytes=settings.max_upload_bytes,
        max_image_bytes=settings.max_image_bytes,
        max_image_pixels=settings.max_image_pixels,
        min_image_side=limits.MIN_IMAGE_SIDE,
        max_aspect_ratio=limits.MAX_ASPECT_RATIO,
        stored_input_pixels=STORED_INPUT_PIXELS,
        native_pixels=capabilities.native_pixels,
        size_multiple=capabilities.size_multiple,
        max_output_side=limits.MAX_OUTPUT_SIDE,
        lightning_steps=list(capabilities.fast.steps),
        max_loras=limits.MAX_LORAS,
        max_num_images=limits.MAX_NUM_IMAGES,
        min_lora_weight=limits.MIN_LORA_WEIGHT,
        max_lora_weight=limits.MAX_LORA_WEIGHT,
    )


def license_view(capabilities: Capabilities) -> LicenseView:
    return LicenseView(id=capabilities.license.id, name=capabilities.license.name, url=capabilities.license.url)
