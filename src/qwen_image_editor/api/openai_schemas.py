"""The bodies of the OpenAI-compatible routes (`/v1/...`), shaped as the OpenAI Images API shapes them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class OpenAIImage(BaseModel):
    """One result: exactly one of `b64_json` and `url`, as `response_format` asked."""

    b64_json: str | None = Field(default=None, description="The encoded image file, base64.")
    url: str | None = Field(default=None, description="Where to fetch it (with the same key, if keys are in use).")


class OpenAIImagesResponse(BaseModel):
    created: int = Field(description="When the job was made, in Unix seconds.")
    data: list[OpenAIImage]
    output_format: Literal["png", "jpeg", "webp"]
    size: str = Field(description="WIDTHxHEIGHT of the results.")
    job_id: str = Field(description="Our job, in the history like any other (`GET /api/jobs/{job_id}`).")


class OpenAIErrorDetail(BaseModel):
    message: str = Field(description="What went wrong and what to do about it.")
    type: str = Field(description="invalid_request_error, authentication_error, rate_limit_error, server_error, ...")
    param: str | None = Field(description="The form field at fault, when one is.")
    code: str | None


class OpenAIErrorResponse(BaseModel):
    error: OpenAIErrorDetail
