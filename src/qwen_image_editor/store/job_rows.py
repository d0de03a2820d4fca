"""A job's row and the record it becomes: the query every job read starts from, the queue's order, and the
mapping from a row (with its webhook delivery) to a `Job`."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, RowMapping, Select, case, delete, select

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.jobs.records import Job, JobRegion, Progress, RequeueReason, WebhookState, WebhookStatus
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.store.schema import jobs, webhook_deliveries

# FIFO: oldest first; equal timestamps are broken by insertion order. A job whose cancel was undone goes ahead of
# the rest (it was running, or about to, a moment ago); it says so in `requeue_reason`, so no column is needed.
FIFO = (
    case((jobs.c.requeue_reason == RequeueReason.CANCEL_UNDONE.value, 0), else_=1).asc(),
    jobs.c.created_at.asc(),
    jobs.c.seq.asc(),
)
NEWEST_FIRST = (jobs.c.created_at.desc(), jobs.c.seq.desc())

# A job's webhook delivery rides along every job read (one row per job at most), so a page of jobs with
# their webhooks is still one query.
_WEBHOOK_COLUMNS = (
    webhook_deliveries.c.url.label("webhook_url"),
    webhook_deliveries.c.attempts.label("webhook_attempts"),
    webhook_deliveries.c.last_status.label("webhook_last_status"),
    webhook_deliveries.c.last_error.label("webhook_last_error"),
    webhook_deliveries.c.delivered_at.label("webhook_delivered_at"),
    webhook_deliveries.c.given_up_at.label("webhook_given_up_at"),
)


def select_jobs() -> Select[Any]:
    return select(jobs, *_WEBHOOK_COLUMNS).select_from(
        jobs.outerjoin(webhook_deliveries, webhook_deliveries.c.job_id == jobs.c.id)
    )


def delete_job_row(conn: Connection, job_id: str) -> None:
    """A job's record goes with its webhook delivery (sent or not: nobody can ask about it any more)."""
    conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.job_id == job_id))
    conn.execute(delete(jobs).where(jobs.c.id == job_id))


def to_job(row: RowMapping) -> Job:
    progress = row["progress"]
    return Job(
        id=row["id"],
        status=JobStatus(row["status"]),
        request=EditRequest.model_validate(json.loads(row["request"])),
        input_count=row["input_count"],
        created_at=row["created_at"],
        owner=row["owner"],
        progress=Progress.model_validate(json.loads(progress)) if progress is not None else None,
        error=row["error"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        attempts=row["attempts"],
        claimed_by=row["claimed_by"],
        lease_expires_at=row["lease_expires_at"],
        cancel_requested=bool(row["cancel_requested"]),
        delete_requested=bool(row["delete_requested"]),
        flattened=bool(row["flattened"]),
        output_names=list(json.loads(row["output_names"])),
        original_sizes=[(int(w), int(h)) for w, h in json.loads(row["original_sizes"] or "[]")],
        starred=bool(row["starred"]),
        requeue_reason=RequeueReason(row["requeue_reason"]) if row["requeue_reason"] else None,
        webhook=_to_webhook(row),
        region=_to_region(row["region"]),
    )


def _to_region(stored: str | None) -> JobRegion | None:
    if stored is None:
        return None
    fields = json.loads(stored)
    crop_box = fields["crop_box"]
    return JobRegion(
        approach=str(fields["approach"]),
        crop_box=None if crop_box is None else (int(crop_box[0]), int(crop_box[1]), int(crop_box[2]), int(crop_box[3])),
        working_size=(int(fields["working_size"][0]), int(fields["working_size"][1])),
    )


def _to_webhook(row: RowMapping) -> WebhookState | None:
    if row["webhook_url"] is None:
        return None
    if row["webhook_delivered_at"] is not None:
        status = WebhookStatus.DELIVERED
    elif row["webhook_given_up_at"] is not None:
        status = WebhookStatus.FAILED
    else:
        status = WebhookStatus.RETRYING if row["webhook_attempts"] else WebhookStatus.PENDING
    return WebhookState(
        url=row["webhook_url"],
        status=status,
        attempts=row["webhook_attempts"],
        last_status=row["webhook_last_status"],
        last_error=row["webhook_last_error"],
    )
