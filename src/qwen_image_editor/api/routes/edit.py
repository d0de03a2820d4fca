from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status
from pydantic import ValidationError

from qwen_image_editor.api.deps import ServicesDep
from qwen_image_editor.api.schemas import ErrorResponse, SubmitResponse
from qwen_image_editor.errors import InvalidRequest, RequestTooLarge
from qwen_image_editor.jobs.request import EditRequest

router = APIRouter(prefix="/api", tags=["jobs"])

_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 413, 415, 422, 503, 507)
}


def parse_config(config: str) -> EditRequest:
    try:
        fields = json.loads(config)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"config is not valid JSON ({exc.msg} at character {exc.pos}); send an object") from exc
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
    job = services.jobs.submit([upload.file for upload in uploads], request)
    position = services.jobs.queue_position(job)
    return SubmitResponse(
        job_id=job.id, status=job.status, message=f"Queued at position {position}", queue_position=position
    )
