from __future__ import annotations

import functools
import json
from collections.abc import Callable, Coroutine
from typing import Any, BinaryIO

from fastapi import APIRouter, Request, Response, status
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from qwen_image_editor.api.deps import CallerDep, ServicesDep
from qwen_image_editor.api.schemas import ErrorResponse, SubmitResponse
from qwen_image_editor.api.views import job_view
from qwen_image_editor.edit_request import EditRequest, parse_request
from qwen_image_editor.errors import InvalidRequest, MalformedRequest, RequestTooLarge, describe_problems
from qwen_image_editor.model_families import MOST_IMAGES, Capabilities

MAX_CONFIG_BYTES = 64 * 1024  # the config JSON: prompts are capped at a few thousand characters


IMAGE_FIELDS = tuple(f"image{number}" for number in range(1, MOST_IMAGES + 1))
MASK_FIELD = "mask"


class LimitedFormRoute(APIRoute):
    """Parses the multipart body with our caps before FastAPI does (it then reuses the parsed form):
    at most as many file parts as any model takes and one small text field, so a flood of parts costs nothing."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            # One part over the most any model takes, so that one too many is answered by the model's own limit,
            # and the region's mask.
            await request.form(max_files=MOST_IMAGES + 2, max_fields=1, max_part_size=MAX_CONFIG_BYTES)
            return await handler(request)

        return limited


router = APIRouter(prefix="/api", tags=["jobs"], route_class=LimitedFormRoute)

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 413, 415, 422, 429, 503, 507)
}


def parse_config(config: str, capabilities: Capabilities) -> EditRequest:
    try:
        fields = json.loads(config)
    except json.JSONDecodeError as exc:
        raise MalformedRequest(f"config is not valid JSON ({exc.msg} at character {exc.pos}); send an object") from exc
    except RecursionError as exc:
        raise MalformedRequest("config is nested too deeply; send a flat object of settings") from exc
    except ValueError as exc:  # Python refuses to read integers of over 4,300 digits
        raise MalformedRequest(f"config has a number with too many digits ({exc}); send a smaller one") from exc
    if not isinstance(fields, dict):
        raise InvalidRequest('config must be a JSON object such as {"prompt": "make the sky stormy"}')
    try:
        return parse_request(fields, capabilities)
    except ValidationError as exc:
        raise InvalidRequest(f"config: {describe_problems(exc.errors(), whole='config')}") from exc


_FORM_SCHEMA = {
    "type": "object",
    "required": ["config"],
    "properties": {
        "config": {"type": "string", "description": "The edit request as a JSON object (see EditRequest)."},
        **{
            name: {
                "type": "string",
                "format": "binary",
                "description": f"Reference image {number} (JPEG, PNG or WebP), addressed as <image{number}>.",
            }
            for number, name in enumerate(IMAGE_FIELDS, start=1)
        },
        MASK_FIELD: {
            "type": "string",
            "format": "binary",
            "description": "Where to edit image 1 (optional): white (or, in a PNG with transparency, opaque) = edit, "
            "at image 1's size or scaled to it. Outside the region grown by `mask_grow` and feathered by "
            "`mask_feather`, the result is image 1's pixels exactly, at image 1's size.",
        },
    },
}


@router.post(
    "/edit",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_ERRORS,
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _FORM_SCHEMA}}}},
)
async def submit_edit(request: Request, services: ServicesDep, caller: CallerDep) -> SubmitResponse:
    """Queue a job: an edit of the images `image1`, `image2`, ... in order, as many as the server's model
    takes (`min_images`-`max_images` in `/api/limits`), or with a model that can, an image from the `config`
    alone. Returns at once; follow the job on `/ws/{job_id}` or by polling."""
    form = await request.form()  # parsed already, with our caps (LimitedFormRoute)
    config = form.get("config")
    if not isinstance(config, str):
        raise InvalidRequest('send the settings as a text field `config`, e.g. {"prompt": "make the sky stormy"}')
    edit = parse_config(config, services.capabilities)
    uploads = _uploads(form, services.settings.max_image_bytes, services.capabilities)
    mask = _mask(form, services.settings.max_image_bytes)
    submit = functools.partial(services.jobs.submit, mask=mask)
    job = await run_in_threadpool(submit, [upload.file for upload in uploads], edit, owner=caller.owner)
    positions = await run_in_threadpool(services.jobs.queue_positions, [job])
    position = positions.get(job.id)
    view = job_view(job, position, retention_hours=services.settings.retention_hours)
    return SubmitResponse(**view.model_dump(), message=f"Queued at position {position}")


def _uploads(form: FormData, limit: int, capabilities: Capabilities) -> list[UploadFile]:
    """The image parts in order, image1 first; a gap (image3 without image2) or an unknown part is refused."""
    names = [name for name, _ in form.multi_items()]
    images = [name for name in names if name.startswith("image")]  # the mask is not one of them
    too_many = capabilities.image_count_problem(len(images)) if len(images) > len(IMAGE_FIELDS) else None
    if too_many is not None:
        raise InvalidRequest(too_many)
    for name, value in form.multi_items():
        if names.count(name) > 1:
            raise InvalidRequest(f"{name} is sent twice: send each part once")
        if name not in ("config", MASK_FIELD) and name not in IMAGE_FIELDS:
            raise InvalidRequest(
                f"unknown part {name!r}: send images as image1 to image{MOST_IMAGES}, `config`, and optionally `mask`"
            )
        if name in IMAGE_FIELDS and not isinstance(value, UploadFile):
            raise InvalidRequest(f"{name} must be an image file, not text")
    uploads = [part for name in IMAGE_FIELDS if isinstance(part := form.get(name), UploadFile)]
    expected = IMAGE_FIELDS[: len(uploads)]
    if any(form.get(name) is None for name in expected):
        missing = next(name for name in expected if form.get(name) is None)
        raise InvalidRequest(f"{missing} is missing: number the images from image1 without gaps")
    for number, upload in enumerate(uploads, start=1):
        if upload.size is not None and upload.size > limit:
            raise RequestTooLarge(f"image{number} is {upload.size:,} bytes; each image may be at most {limit:,}")
    return uploads


def _mask(form: FormData, limit: int) -> BinaryIO | None:
    """The region's mask part, when one was sent."""
    part = form.get(MASK_FIELD)
    if part is None:
        return None
    if not isinstance(part, UploadFile):
        raise InvalidRequest("mask must be an image file (white = edit), not text", param=MASK_FIELD)
    if part.size is not None and part.size > limit:
        raise RequestTooLarge(f"mask is {part.size:,} bytes; it may be at most {limit:,}")
    return part.file
