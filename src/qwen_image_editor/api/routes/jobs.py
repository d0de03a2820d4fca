from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse

from qwen_image_editor.api.deps import CallerDep, ServicesDep
from qwen_image_editor.api.schemas import (
    CancelQueuedResponse,
    DeleteResponse,
    ErrorResponse,
    JobListResponse,
    JobView,
)
from qwen_image_editor.api.views import job_view
from qwen_image_editor.application.undo import undo_cancel
from qwen_image_editor.edit_request import MAX_NUM_IMAGES
from qwen_image_editor.errors import JobNotFound
from qwen_image_editor.jobs.records import Job
from qwen_image_editor.jobs.states import JobStatus

router = APIRouter(prefix="/api", tags=["jobs"])

_NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"model": ErrorResponse}}
MAX_SLUG_CHARS = 60
_SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"}


def _job_view(services: ServicesDep, caller: CallerDep, job_id: str) -> JobView:
    return _view_with_position(services, services.jobs.get(job_id, owner=caller.sees))


def _view_with_position(services: ServicesDep, job: Job) -> JobView:
    return _view(services, job, services.jobs.queue_positions([job]).get(job.id))


def _view(services: ServicesDep, job: Job, queue_position: int | None) -> JobView:
    return job_view(job, queue_position, retention_hours=services.settings.retention_hours)


@router.get("/jobs", response_model=JobListResponse)
def list_jobs(
    services: ServicesDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    status: Annotated[
        list[JobStatus] | None,
        Query(description="Only jobs in these states (repeat it: status=queued&status=processing)."),
    ] = None,
    search: Annotated[
        str | None,
        Query(max_length=200, pattern=r"^[^\x00]*$", description="Words in the prompt, any case (no NUL)."),
    ] = None,
    starred: Annotated[bool | None, Query(description="Only starred (true) or unstarred (false) jobs.")] = None,
) -> JobListResponse:
    """The job history, newest first: a page of it (`limit`, `offset`) and how many jobs match in all."""
    jobs, total = services.jobs.list(
        limit=limit, offset=offset, status=status, owner=caller.sees, search=search, starred=starred
    )
    positions = services.jobs.queue_positions(jobs)
    return JobListResponse(jobs=[_view(services, job, positions.get(job.id)) for job in jobs], total=total)


@router.get("/jobs/{job_id}", responses=_NOT_FOUND)
def get_job(services: ServicesDep, caller: CallerDep, job_id: str) -> JobView:
    """A job's state, progress, settings and files."""
    return _job_view(services, caller, job_id)


@router.get("/jobs/{job_id}/status", responses=_NOT_FOUND)
def get_job_status(services: ServicesDep, caller: CallerDep, job_id: str) -> JobView:
    """Alias of `GET /api/jobs/{job_id}`, for the original deployment's clients."""
    return _job_view(services, caller, job_id)


async def _file(
    services: ServicesDep, caller: CallerDep, job_id: str, name: str, download_name: str | None = None
) -> Response:
    """The file, after the access check: for an attachment, a redirect to the store's short-lived URL where one
    is configured (QIE_S3_PRESIGN_SECONDS); else its bytes, sent from disk (ranges, sendfile) or streamed from
    the store. Only attachments redirect: they are plain links, while the page shows and fetches `/files/` from
    its own origin (its CSP allows images and fetches from 'self' only, and a bucket then needs no CORS).
    Async: a request waiting on a slow store holds no request thread (the store's calls have a pool of their own)."""
    job = await run_in_threadpool(services.jobs.get, job_id, owner=caller.sees)
    stored = await services.jobs.open_file(job, name, download_name=download_name)
    if isinstance(stored, str):  # the store's own URL
        return RedirectResponse(stored, status_code=307, headers={"Cache-Control": "private, no-store"})
    headers = dict(_SAFE_HEADERS)
    if download_name is not None:
        headers["Content-Disposition"] = f'attachment; filename="{download_name}"'
    if stored.path is not None:
        return FileResponse(stored.path, media_type=stored.media_type, headers=headers)
    assert stored.chunks is not None
    headers["Content-Length"] = str(stored.size)
    return StreamingResponse(stored.chunks, media_type=stored.media_type, headers=headers)


@router.get("/jobs/{job_id}/download", response_class=FileResponse, responses=_NOT_FOUND)
async def download_result(
    services: ServicesDep,
    caller: CallerDep,
    job_id: str,
    index: Annotated[int, Query(ge=1, le=MAX_NUM_IMAGES, description="Which result, 1 = the first.")] = 1,
) -> Response:
    """One result as an attachment; download it as often as you like (it is kept until it is deleted)."""
    job = await run_in_threadpool(services.jobs.get, job_id, owner=caller.sees)
    if len(job.output_names) < index:
        raise JobNotFound(f"job {job.id} has no result {index} (it is {job.status}, with {len(job.output_names)})")
    name = job.output_names[index - 1]
    return await _file(services, caller, job.id, name, download_name=_download_name(job, index, name))


@router.get("/jobs/{job_id}/download.zip", response_class=Response, responses=_NOT_FOUND)
async def download_all(services: ServicesDep, caller: CallerDep, job_id: str) -> Response:
    """Every result of the job in one zip file."""
    job = await run_in_threadpool(services.jobs.get, job_id, owner=caller.sees)
    if not job.output_names:
        raise JobNotFound(f"job {job.id} has no result (it is {job.status})")
    files = [(_download_name(job, index, name), await services.jobs.read_file(job, name))
             for index, name in enumerate(job.output_names, start=1)]  # fmt: skip
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:  # images are compressed already
        for file_name, content in files:
            archive.writestr(file_name, content)
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={**_SAFE_HEADERS, "Content-Disposition": f'attachment; filename="{_zip_name(job)}"'},
    )


def _zip_name(job: Job) -> str:
    """`make-the-sky-stormy_seeds7-10.zip`: named like its files (`_download_name`), with the seeds it holds."""
    seeds = job.request.image_seeds()[: len(job.output_names)]
    which = f"seed{seeds[0]}" if len(seeds) == 1 else f"seeds{seeds[0]}-{seeds[-1]}"
    return f"{prompt_slug(job.request.prompt)}_{which}.zip"


def _download_name(job: Job, index: int, name: str) -> str:
    """`make-the-sky-stormy_seed42.png`: what and which seed, safe on every filesystem (ASCII letters,
    digits and dashes, at most ~70 characters)."""
    seed = job.request.image_seeds()[index - 1]
    return f"{prompt_slug(job.request.prompt)}_seed{seed}.{name.rsplit('.', 1)[1]}"


def prompt_slug(prompt: str, max_chars: int = MAX_SLUG_CHARS) -> str:
    ascii_text = unicodedata.normalize("NFKD", prompt).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    if len(slug) > max_chars:
        slug = slug[:max_chars].rsplit("-", 1)[0] if "-" in slug[:max_chars] else slug[:max_chars]
    return slug or "edited"


@router.get("/jobs/{job_id}/files/{name}", response_class=FileResponse, responses=_NOT_FOUND)
async def get_job_file(services: ServicesDep, caller: CallerDep, job_id: str, name: str) -> Response:
    """One of the job's files: input_N.png, output_N.<ext> or thumbnail.webp."""
    return await _file(services, caller, job_id, name)


@router.post("/jobs/{job_id}/cancel", responses={**_NOT_FOUND, 409: {"model": ErrorResponse}})
def cancel_job(services: ServicesDep, caller: CallerDep, job_id: str) -> JobView:
    """A queued job is cancelled at once, a running one at its next step. 409 if already final."""
    return _view(services, services.jobs.cancel(job_id, owner=caller.sees), None)


@router.post("/jobs/{job_id}/undo-cancel", responses={**_NOT_FOUND, 409: {"model": ErrorResponse}})
async def undo_cancel_job(services: ServicesDep, caller: CallerDep, job_id: str) -> JobView:
    """Queue a job cancelled moments ago (up to a minute) again, ahead of every other queued job, with its settings
    and seed. A running job being cancelled is first waited for until it stops. 409 if it was not cancelled, or too
    long ago (submit it again then)."""
    job = await undo_cancel(services.jobs, services.events, job_id, owner=caller.sees)
    return await run_in_threadpool(_view_with_position, services, job)


@router.post("/jobs/cancel-queued")
def cancel_queued_jobs(services: ServicesDep, caller: CallerDep) -> CancelQueuedResponse:
    """Cancel all of the caller's queued jobs at once (in open mode, every queued job); running jobs go on."""
    cancelled = services.jobs.cancel_queued(owner=caller.owner)
    return CancelQueuedResponse(
        message=f"{len(cancelled)} queued job{'' if len(cancelled) == 1 else 's'} cancelled",
        job_ids=[job.id for job in cancelled],
    )


@router.put("/jobs/{job_id}/star", responses=_NOT_FOUND)
def star_job(services: ServicesDep, caller: CallerDep, job_id: str) -> JobView:
    """Keep the job whatever the retention."""
    return _view_with_position(services, services.jobs.star(job_id, True, owner=caller.sees))


@router.delete("/jobs/{job_id}/star", responses=_NOT_FOUND)
def unstar_job(services: ServicesDep, caller: CallerDep, job_id: str) -> JobView:
    """Let the retention (if any) apply to the job again."""
    return _view_with_position(services, services.jobs.star(job_id, False, owner=caller.sees))


@router.delete("/jobs/{job_id}", responses=_NOT_FOUND)
def delete_job(services: ServicesDep, caller: CallerDep, job_id: str) -> DeleteResponse:
    """Delete the job's record and files; a queued job is cancelled first. A running one is answered at once: it is
    cancelled, and goes once it stops at its next step (its view says `deleting` meanwhile)."""
    job, gone = services.jobs.delete(job_id, owner=caller.sees)
    if gone:
        return DeleteResponse(message=f"Job {job.id} deleted (it was {job.status})", job_id=job.id)
    return DeleteResponse(
        message=f"Job {job.id} cancelled; it is deleted once it stops (it was {job.status})", job_id=job.id
    )
