from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from qwen_image_editor.api.deps import CallerDep, ServicesDep
from qwen_image_editor.api.schemas import DeleteResponse, ErrorResponse, JobListResponse, JobView
from qwen_image_editor.api.views import job_view
from qwen_image_editor.errors import JobNotFound
from qwen_image_editor.jobs.states import JobStatus

router = APIRouter(prefix="/api", tags=["jobs"])

_NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"model": ErrorResponse}}
_MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
_SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"}


def _job_view(services: ServicesDep, caller: CallerDep, job_id: str) -> JobView:
    job = services.jobs.get(job_id, owner=caller.sees)
    return job_view(job, services.jobs.queue_positions([job]).get(job.id))


@router.get("/jobs", response_model=JobListResponse)
def list_jobs(
    services: ServicesDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    status: JobStatus | None = None,
) -> JobListResponse:
    """The job history, newest first."""
    jobs, total = services.jobs.list(limit=limit, offset=offset, status=status, owner=caller.sees)
    positions = services.jobs.queue_positions(jobs)
    return JobListResponse(jobs=[job_view(job, positions.get(job.id)) for job in jobs], total=total)


@router.get("/jobs/{job_id}", responses=_NOT_FOUND)
def get_job(services: ServicesDep, caller: CallerDep, job_id: str) -> JobView:
    """A job's state, progress, settings and files."""
    return _job_view(services, caller, job_id)


@router.get("/jobs/{job_id}/status", responses=_NOT_FOUND)
def get_job_status(services: ServicesDep, caller: CallerDep, job_id: str) -> JobView:
    """Alias of `GET /api/jobs/{job_id}`, for the original deployment's clients."""
    return _job_view(services, caller, job_id)


def _file(services: ServicesDep, caller: CallerDep, job_id: str, name: str) -> FileResponse:
    job = services.jobs.get(job_id, owner=caller.sees)
    try:
        path = services.blobs.path_of(job.id, name)
    except FileNotFoundError as exc:
        raise JobNotFound(f"job {job.id} has no file {name!r}") from exc
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix.lstrip(".")], headers=_SAFE_HEADERS)


@router.get("/jobs/{job_id}/download", response_class=FileResponse, responses=_NOT_FOUND)
def download_result(services: ServicesDep, caller: CallerDep, job_id: str) -> FileResponse:
    """The result as an attachment; download it as often as you like (it is kept until retention)."""
    job = services.jobs.get(job_id, owner=caller.sees)
    if not job.output_names:
        raise JobNotFound(f"job {job.id} has no result (it is {job.status})")
    response = _file(services, caller, job.id, job.output_names[0])
    extension = job.output_names[0].rsplit(".", 1)[1]
    response.headers["Content-Disposition"] = f'attachment; filename="edited_{job.id}.{extension}"'
    return response


@router.get("/jobs/{job_id}/files/{name}", response_class=FileResponse, responses=_NOT_FOUND)
def get_job_file(services: ServicesDep, caller: CallerDep, job_id: str, name: str) -> FileResponse:
    """One of the job's files: input_N.png, output_1.<ext> or thumbnail.webp."""
    return _file(services, caller, job_id, name)


@router.post("/jobs/{job_id}/cancel", responses={**_NOT_FOUND, 409: {"model": ErrorResponse}})
def cancel_job(services: ServicesDep, caller: CallerDep, job_id: str) -> JobView:
    """A queued job is cancelled at once, a running one at its next step. 409 if already final."""
    return job_view(services.jobs.cancel(job_id, owner=caller.sees), None)


@router.delete("/jobs/{job_id}", responses=_NOT_FOUND)
def delete_job(services: ServicesDep, caller: CallerDep, job_id: str) -> DeleteResponse:
    """Cancel the job if it is active, then delete its record and files."""
    job = services.jobs.delete(job_id, owner=caller.sees)
    return DeleteResponse(message=f"Job {job.id} deleted (it was {job.status})", job_id=job.id)
