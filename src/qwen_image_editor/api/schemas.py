"""Response bodies of the API; the web UI's types are generated from these through OpenAPI."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from qwen_image_editor.blobs.base import THUMBNAIL_NAME, input_name
from qwen_image_editor.engine.base import ModelState
from qwen_image_editor.jobs.records import Job, Progress
from qwen_image_editor.jobs.request import EditRequest, OutputFormat
from qwen_image_editor.jobs.states import JobStatus


class HealthResponse(BaseModel):
    status: Literal["online"] = "online"
    version: str
    model: str = Field(description="The model in use (after `auto` is resolved).")
    model_state: ModelState
    model_error: str | None = Field(description="Why loading failed, when model_state is failed.")
    device: str
    queue_length: int = Field(description="Jobs waiting to run.")
    demo: bool = Field(description="True with the tiny random-weight model: outputs are noise.")
    worker_alive: bool = Field(description="The in-process worker thread is running.")


class LimitsResponse(BaseModel):
    """Every limit and default the UI needs, so none is written twice."""

    max_images: int
    max_prompt_chars: int
    max_negative_prompt_chars: int
    min_steps: int
    max_steps: int
    default_steps: int
    min_cfg: float
    max_cfg: float
    default_cfg: float
    max_seed: int
    output_formats: list[OutputFormat]
    accepted_types: list[str]
    max_upload_bytes: int
    max_image_bytes: int
    max_image_pixels: int
    min_image_side: int
    max_aspect_ratio: float


class SubmitResponse(BaseModel):
    job_id: str
    status: JobStatus
    message: str
    queue_position: int | None


class JobResponse(BaseModel):
    job_id: str
    status: JobStatus
    config: EditRequest = Field(description="The request as run; `seed` is always filled in.")
    progress: Progress | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queue_position: int | None = Field(description="1 = next to run; null unless queued.")
    attempts: int
    inputs: list[str]
    outputs: list[str]
    thumbnail: str | None

    @classmethod
    def of(cls, job: Job, queue_position: int | None) -> JobResponse:
        files = f"/api/jobs/{job.id}/files"
        return cls(
            job_id=job.id,
            status=job.status,
            config=job.request,
            progress=job.progress,
            error=job.error,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            queue_position=queue_position,
            attempts=job.attempts,
            inputs=[f"{files}/{input_name(i)}" for i in range(1, job.input_count + 1)],
            outputs=[f"{files}/{name}" for name in job.output_names],
            thumbnail=f"{files}/{THUMBNAIL_NAME}" if job.output_names else None,
        )


class JobListResponse(BaseModel):
    jobs: list[JobResponse]
    total: int


class CleanupResponse(BaseModel):
    deleted: list[str]
    message: str


class ErrorResponse(BaseModel):
    detail: str = Field(description="What went wrong and what to do about it.")
