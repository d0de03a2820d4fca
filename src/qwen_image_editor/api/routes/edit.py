from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile, status
from fastapi.routing import APIRoute
from pydantic import ValidationError

from qwen_image_editor.api.deps import CallerDep, ServicesDep
from qwen_image_editor.api.schemas import ErrorResponse, SubmitResponse
from qwen_image_editor.api.views import job_view
from qwen_image_editor.edit_request import MAX_IMAGES, EditRequest
from qwen_image_editor.errors import InvalidRequest, MalformedRequest, RequestTooLarge

MAX_CONFIG_BYTES = 64 * 1024  # the config JSON: prompts are capped at a few thousand characters


class LimitedFormRoute(APIRoute):
    """Parses the multipart body with our caps before FastAPI does (it then reuses the parsed form):
    at most MAX_IMAGES file parts and one small text field, so a flood of parts costs nothing."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            await request.form(max_files=MAX_IMAGES, max_fields=1, max_part_size=MAX_CONFIG_BYTES)
            return await handler(request)

        return limited


router = APIRouter(prefix="/api", tags=["jobs"], route_class=LimitedFormRoute)

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 413, 415, 422, 429, 503, 507)
}


def parse_config(config: str) -> EditRequest:
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
        return EditRequest.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise InvalidRequest(f"config: {problems}") from exc


@router.post("/edit", status_code=status.HTTP_202_ACCEPTED, responses=_ERRORS)
def submit_edit(
    services: ServicesDep,
    caller: CallerDep,
    image1: Annotated[UploadFile, File(description="The first (or only) image: JPEG, PNG or WebP.")],
    config: Annotated[str, Form(description="The edit request as a JSON object (see EditRequest).")],
    image2: Annotated[UploadFile | None, File(description="Optional second image.")] = None,
    image3: Annotated[UploadFile | None, File(description="Optional third image.")] = None,
) -> SubmitResponse:
    """Queue an edit of 1-3 images. Returns at once; follow the job on `/ws/{job_id}` or by polling."""
    request = parse_config(config)
    uploads = [upload for upload in (image1, image2, image3) if upload is not None]
    limit = services.settings.max_image_bytes
    for number, upload in enumerate(uploads, start=1):
        if upload.size is not None and upload.size > limit:
            raise RequestTooLarge(f"image{number} is {upload.size:,} bytes; each image may be at most {limit:,}")
    job = services.jobs.submit([upload.file for upload in uploads], request, owner=caller.owner)
    position = services.jobs.queue_positions([job]).get(job.id)
    view = job_view(job, position, retention_hours=services.settings.retention_hours)
    return SubmitResponse(**view.model_dump(), message=f"Queued at position {position}")
