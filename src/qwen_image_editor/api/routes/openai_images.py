"""`POST /v1/images/edits` and `POST /v1/images/generations`, as the OpenAI Images API has them (and vLLM-Omni
serves them), so the OpenAI SDKs and the tools built on them edit and create images through this server. Each
queues a normal job (in the history, cancellable), waits for it (at most `QIE_OPENAI_WAIT_SECONDS`) and answers
with the results. Errors come in OpenAI's shape (`api/errors.py`): a refused parameter is a 400, as OpenAI's."""

from __future__ import annotations

import base64
import functools
import io
import re
from typing import Any, BinaryIO, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from qwen_image_editor.api.deps import CallerDep, ServicesDep
from qwen_image_editor.api.errors import error_body
from qwen_image_editor.api.openai_schemas import OpenAIErrorResponse, OpenAIImage, OpenAIImagesResponse
from qwen_image_editor.api.views import absolute_url, file_url, job_url
from qwen_image_editor.application.waiting import wait_for_end
from qwen_image_editor.edit_request import MAX_NUM_IMAGES, EditRequest, OutputFormat, parse_request
from qwen_image_editor.errors import InvalidRequest, RequestTooLarge, describe_problems, problem_field
from qwen_image_editor.jobs.records import Job
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.model_families import MOST_IMAGES, Capabilities
from qwen_image_editor.regions import MaskMeaning
from qwen_image_editor.services import Services

router = APIRouter(prefix="/v1", tags=["openai"])

MAX_FIELD_BYTES = 64 * 1024
IMAGE_FIELDS = ("image", "image[]")
# Our EditRequest's fields by the form field that sets them (OpenAI's names, then our extras).
_FIELDS = {
    "prompt": "prompt",
    "n": "num_images",
    "size": "output_size",
    "output_format": "output_format",
    "seed": "seed",
    "steps": "num_inference_steps",
    "guidance": "true_cfg_scale",
    "negative_prompt": "negative_prompt",
    "lightning": "lightning",
    "aspect_ratio": "aspect_ratio",
}
_PARAM_OF = {field: param for param, field in _FIELDS.items()}
# OpenAI's parameters that have no meaning here: accepted (tools send them by default) and not used.
_IGNORED = frozenset(
    {"model", "user", "quality", "background", "moderation", "input_fidelity", "output_compression",
     "partial_images", "safety_identifier", "style", "response_format", "stream"}
)  # fmt: skip
_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
_TRUE, _FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off", ""})

_FORM_SCHEMA = {
    "type": "object",
    "required": ["image", "prompt"],
    "properties": {
        "image": {"type": "string", "format": "binary", "description": "The image (JPEG, PNG or WebP)."},
        "image[]": {"type": "array", "items": {"type": "string", "format": "binary"}, "maxItems": MOST_IMAGES},
        "prompt": {"type": "string", "description": "The edit instruction."},
        "n": {"type": "integer", "minimum": 1, "maximum": MAX_NUM_IMAGES, "default": 1},
        "size": {"type": "string", "description": "`auto` (default) or WIDTHxHEIGHT."},
        "response_format": {"type": "string", "enum": ["b64_json", "url"], "default": "b64_json"},
        "output_format": {"type": "string", "enum": list(OutputFormat), "default": OutputFormat.PNG},
        "model": {"type": "string", "description": "Accepted; the loaded model answers."},
        "user": {"type": "string"},
        "seed": {"type": "integer"},
        "steps": {"type": "integer", "description": "Denoising steps (num_inference_steps)."},
        "guidance": {"type": "number", "description": "true_cfg_scale."},
        "negative_prompt": {"type": "string"},
        "lightning": {"type": "boolean"},
        "aspect_ratio": {"type": "string", "description": "W:H at the model's native area, e.g. 16:9."},
        "mask": {
            "type": "string",
            "format": "binary",
            "description": "A PNG with alpha at the first image's size: fully transparent = edit there. Every "
            "pixel outside (beyond the feather) comes back exactly as sent.",
        },
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": OpenAIErrorResponse} for code in (400, 401, 403, 409, 413, 415, 429, 500, 503, 504, 507)
}


@router.post(
    "/images/edits",
    response_model=OpenAIImagesResponse,
    response_model_exclude_none=True,
    responses=_ERRORS,
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _FORM_SCHEMA}}}},
)
async def create_image_edit(request: Request, services: ServicesDep, caller: CallerDep) -> Any:
    """Edit images as the OpenAI Images API does (`client.images.edit(image=..., prompt=...)`): as many as the
    server's model takes (`max_images` in `/api/limits`)."""
    form = await request.form(max_files=MOST_IMAGES + 1, max_fields=32, max_part_size=MAX_FIELD_BYTES)
    uploads, edit, response_format = parse_edit_form(form, services.settings.max_image_bytes, services.capabilities)
    mask = _mask(form, services.settings.max_image_bytes)
    submit = functools.partial(services.jobs.submit, mask=mask, mask_meaning=MaskMeaning.TRANSPARENT_EDITS)
    job = await run_in_threadpool(submit, [upload.file for upload in uploads], edit, owner=caller.owner)
    job = await wait_for_end(services.jobs, services.events, job.id, services.settings.openai_wait_seconds)
    if job.status is not JobStatus.COMPLETE:
        return _not_complete(job, request.url.path, services.settings.openai_wait_seconds)
    return await _results(services, job, response_format, str(request.base_url))


class GenerationRequest(BaseModel):
    """`client.images.generate(prompt=..., n=..., size=...)`: OpenAI's fields, then ours (`extra_body`)."""

    model_config = ConfigDict(extra="allow")  # OpenAI's others (model, quality, style, ...) are accepted, unused

    prompt: str = Field(description="What to make, e.g. 'a lighthouse at dusk, oil painting'.")
    n: int | None = Field(default=None, description="Images to make (variations with seeds seed, seed+1, ...).")
    size: str | None = Field(default=None, description="`auto` (the model's native area, square) or WIDTHxHEIGHT.")
    response_format: Literal["b64_json", "url"] = "b64_json"
    output_format: str | None = Field(default=None, description="png (default), jpeg or webp.")
    seed: int | None = None
    steps: int | None = Field(default=None, description="Denoising steps (num_inference_steps).")
    guidance: float | None = Field(default=None, description="true_cfg_scale.")
    negative_prompt: str | None = None
    lightning: bool | None = None
    aspect_ratio: str | None = Field(default=None, description="W:H at the model's native area, e.g. 16:9.")


@router.post(
    "/images/generations",
    response_model=OpenAIImagesResponse,
    response_model_exclude_none=True,
    responses=_ERRORS,
)
async def create_image(body: GenerationRequest, request: Request, services: ServicesDep, caller: CallerDep) -> Any:
    """Make images from the instruction alone as the OpenAI Images API does (`client.images.generate`), with a
    model that can (`text_to_image` in `/api/limits`); another model's answer names the models that can."""
    if body.model_extra and body.model_extra.get("stream") in (True, "true"):
        raise InvalidRequest("streaming is not supported; follow the job on /ws/{job_id} instead", param="stream")
    problem = services.capabilities.image_count_problem(0)
    if problem is not None:
        raise InvalidRequest(problem, param="prompt")
    fields = {
        _FIELDS[name]: _field_value(name, str(value))
        for name, value in body.model_dump(exclude={"response_format"}).items()
        if name in _FIELDS and value is not None
    }
    try:
        edit = parse_request(fields, services.capabilities)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    job = await run_in_threadpool(services.jobs.submit, [], edit, owner=caller.owner)
    job = await wait_for_end(services.jobs, services.events, job.id, services.settings.openai_wait_seconds)
    if job.status is not JobStatus.COMPLETE:
        return _not_complete(job, request.url.path, services.settings.openai_wait_seconds)
    return await _results(services, job, body.response_format, str(request.base_url))


def _invalid(exc: ValidationError) -> InvalidRequest:
    """The first problem, named by the parameter the client sent."""
    first = exc.errors()[0]
    return InvalidRequest(
        describe_problems([first], _PARAM_OF, "prompt"), param=problem_field(first, _PARAM_OF, "prompt")
    )


def parse_edit_form(
    form: FormData, max_image_bytes: int, capabilities: Capabilities
) -> tuple[list[UploadFile], EditRequest, str]:
    """The images, the edit request and the response format; InvalidRequest naming the field at fault."""
    uploads: list[UploadFile] = []
    fields: dict[str, Any] = {}
    response_format = "b64_json"
    for name, value in form.multi_items():
        if name in IMAGE_FIELDS:
            if not isinstance(value, UploadFile):
                raise InvalidRequest(f"{name} must be an image file, not text", param=name)
            uploads.append(value)
        elif name == "mask":
            if not isinstance(value, UploadFile):
                raise InvalidRequest("mask must be a PNG file whose fully transparent pixels mark the edit", param=name)
        elif isinstance(value, UploadFile):
            raise InvalidRequest(f"{name} is not supported here: only image files are read", param=name)
        elif name == "response_format":
            if value not in ("b64_json", "url"):
                raise InvalidRequest(f"response_format must be b64_json or url, not {value!r}", param=name)
            response_format = value
        elif name == "stream" and value.lower() in _TRUE:
            raise InvalidRequest("streaming is not supported; follow the job on /ws/{job_id} instead", param=name)
        elif name in _FIELDS:
            fields[_FIELDS[name]] = _field_value(name, value)
        elif name not in _IGNORED:
            raise InvalidRequest(f"unknown parameter {name!r}", param=name)
    problem = capabilities.image_count_problem(len(uploads)) or (None if uploads else "send at least one image")
    if problem is not None:
        raise InvalidRequest(f"{problem} (as `image`, or `image[]`)", param="image")
    for upload in uploads:
        if upload.size is not None and upload.size > max_image_bytes:
            raise RequestTooLarge(f"an image is {upload.size:,} bytes; each may be at most {max_image_bytes:,}")
    if "prompt" not in fields:
        raise InvalidRequest("prompt is required: the edit instruction, e.g. 'make the sky stormy'", param="prompt")
    try:
        return uploads, parse_request(fields, capabilities), response_format
    except ValidationError as exc:
        raise _invalid(exc) from exc


def _mask(form: FormData, max_image_bytes: int) -> BinaryIO | None:
    """OpenAI's `mask`: where image 1 is fully transparent is where it is edited."""
    masks = form.getlist("mask")
    if len(masks) > 1:
        raise InvalidRequest("mask is sent twice: send one", param="mask")
    part = masks[0] if masks else None
    if not isinstance(part, UploadFile):
        return None
    if part.size is not None and part.size > max_image_bytes:
        raise RequestTooLarge(f"the mask is {part.size:,} bytes; it may be at most {max_image_bytes:,}")
    return part.file


def _field_value(name: str, value: str) -> Any:
    """A form field's text as the EditRequest field it sets wants it."""
    value = value.strip()
    if name == "size":
        if value in ("auto", ""):
            return None
        match = _SIZE.fullmatch(value)
        if match is None:
            raise InvalidRequest(f"size must be auto or WIDTHxHEIGHT such as 1024x768, not {value!r}", param=name)
        return int(match[1]), int(match[2])
    if name == "output_format":
        output_format = OutputFormat.named(value)
        if output_format is None:
            raise InvalidRequest(f"output_format must be {', '.join(OutputFormat)}, not {value!r}", param=name)
        return output_format
    if name == "lightning":
        if value.lower() not in _TRUE | _FALSE:
            raise InvalidRequest(f"lightning must be true or false, not {value!r}", param=name)
        return value.lower() in _TRUE
    if name in ("n", "seed", "steps"):
        try:
            return int(value)
        except ValueError:
            raise InvalidRequest(f"{name} must be a whole number, not {value!r}", param=name) from None
    if name == "guidance":
        try:
            return float(value)
        except ValueError:
            raise InvalidRequest(f"guidance must be a number, not {value!r}", param=name) from None
    return value


async def _results(services: Services, job: Job, response_format: str, base_url: str) -> OpenAIImagesResponse:
    first = await services.jobs.read_file(job, job.output_names[0])  # time-boxed, holding no request thread
    with Image.open(io.BytesIO(first)) as image:
        width, height = image.size
    if response_format == "url":
        data = [OpenAIImage(url=absolute_url(base_url, file_url(job.id, name))) for name in job.output_names]
    else:
        contents = [first, *[await services.jobs.read_file(job, name) for name in job.output_names[1:]]]
        data = [OpenAIImage(b64_json=base64.b64encode(content).decode()) for content in contents]
    return OpenAIImagesResponse(
        created=int(job.created_at.timestamp()),
        data=data,
        output_format=job.request.output_format.value,
        size=f"{width}x{height}",
        job_id=job.id,
    )


def _not_complete(job: Job, path: str, waited: float) -> JSONResponse:
    """The job failed, was cancelled, or is still going: said in OpenAI's shape, and not to be retried (a retry
    would queue the same edit again)."""
    if job.status is JobStatus.ERROR:
        status, message = 500, f"the edit failed: {job.error}"
    elif job.status is JobStatus.CANCELLED:
        status, message = 409, f"job {job.id} was cancelled before it finished"
    else:
        status = 504
        message = (
            f"job {job.id} did not finish within {waited:g} seconds; it goes on (it is {job.status}): "
            f"follow it at {job_url(job.id)}"
        )
    return JSONResponse(error_body(status, message, path), status_code=status, headers={"x-should-retry": "false"})
