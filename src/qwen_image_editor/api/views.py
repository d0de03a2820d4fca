"""The one place that turns a job record into what a client sees: the job view, its file URLs, and the
WebSocket messages built from it."""

from __future__ import annotations

import base64
from typing import cast

from qwen_image_editor.api.schemas import JobMessage, JobMessageType, JobView, ProgressMessage, RegionView, WebhookView
from qwen_image_editor.blobs.base import MASK_NAME, THUMBNAIL_NAME, input_name
from qwen_image_editor.jobs.events import JobEventKind, JobProgressed
from qwen_image_editor.jobs.records import Job, WebhookStatus
from qwen_image_editor.jobs.retention import kept_until
from qwen_image_editor.jobs.states import JobStatus, TerminalJobStatus


def job_url(job_id: str) -> str:
    return f"/api/jobs/{job_id}"


def file_url(job_id: str, name: str) -> str:
    return f"{job_url(job_id)}/files/{name}"


def absolute_url(base_url: str, path: str) -> str:
    """`path` on this server as the client reached it (`base_url`: the request's, proxy headers applied)."""
    return base_url.rstrip("/") + path


def job_view(job: Job, queue_position: int | None, *, retention_hours: float) -> JobView:
    """`queue_position` comes from the store (one query for a whole page); ignored unless queued."""
    return JobView(
        job_id=job.id,
        status=job.status,
        config=job.request,
        progress=job.progress,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        queue_position=queue_position if job.status is JobStatus.QUEUED else None,
        attempts=job.attempts,
        inputs=[file_url(job.id, input_name(i)) for i in range(1, job.input_count + 1)],
        outputs=[file_url(job.id, name) for name in job.output_names],
        thumbnail=file_url(job.id, THUMBNAIL_NAME) if job.output_names else None,
        starred=job.starred,
        kept_until=kept_until(job, retention_hours),
        requeue_reason=job.requeue_reason,
        webhook=webhook_view(job),
        deleting=job.delete_requested,
        flattened=job.flattened,
        mask=file_url(job.id, MASK_NAME) if job.region is not None else None,
        region=region_view(job),
    )


def region_view(job: Job) -> RegionView | None:
    region = job.region
    if region is None:
        return None
    return RegionView(approach=region.approach, crop_box=region.crop_box, working_size=region.working_size)


def webhook_view(job: Job) -> WebhookView | None:
    """The delivery the store read with the job; before the job ends (no delivery yet), a pending one."""
    if job.webhook is not None:
        state = job.webhook
        return WebhookView(
            url=state.url,
            status=state.status,
            attempts=state.attempts,
            last_status=state.last_status,
            last_error=state.last_error,
        )
    if job.request.webhook_url is None:
        return None
    return WebhookView(
        url=job.request.webhook_url, status=WebhookStatus.PENDING, attempts=0, last_status=None, last_error=None
    )


def job_message(view: JobView, event: JobEventKind | None) -> JobMessage:
    """A whole-job message: the snapshot when `event` is None, the final message for a finished job,
    a `status` message for any other change."""
    kind: JobMessageType
    if event is None:
        kind = "snapshot"
    elif view.status.is_terminal:
        kind = cast(TerminalJobStatus, view.status)  # the final message is named after the job's final state
    else:
        kind = "status"
    return JobMessage(type=kind, event=event, **view.model_dump())


def progress_message(event: JobProgressed) -> ProgressMessage:
    preview = None
    if event.preview is not None:  # a data URL: the page shows it in an <img> as it arrives
        preview = f"data:{event.preview.media_type};base64,{base64.b64encode(event.preview.data).decode()}"
    return ProgressMessage(job_id=event.job_id, progress=event.progress, preview=preview)
