"""The job record and its progress, as the store keeps them and the API shows them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.jobs.states import JobStatus


class ProgressStage(StrEnum):
    """What a processing job is doing now."""

    LOADING_MODEL = "loading_model"  # the model is being loaded (the first job after start)
    PREPARING = "preparing"  # reading inputs, encoding the prompt and images
    DENOISING = "denoising"  # one update per step
    DECODING = "decoding"  # the VAE turns latents into pixels
    SAVING = "saving"  # writing the result


class RequeueReason(StrEnum):
    """Why a job went back to the queue after it had started."""

    RESTART = "restart"  # its worker's service restarted (e.g. after a crash) and handed it back at once
    LEASE_EXPIRED = "lease_expired"  # its worker stopped renewing the lease (died elsewhere, lost the database)
    SHUTDOWN = "shutdown"  # its worker shut down mid-job and handed it back
    CANCEL_UNDONE = "cancel_undone"  # its owner undid its cancel: it runs next, ahead of the queue


class WebhookStatus(StrEnum):
    """Where a job's webhook is."""

    PENDING = "pending"  # not tried yet (the job has not ended, or it just did)
    RETRYING = "retrying"  # tried and failed; tried again later
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # given up: still failing QIE_WEBHOOK_GIVE_UP_SECONDS after the job ended


@dataclass(frozen=True)
class WebhookState:
    """A job's webhook delivery as the store records it."""

    url: str
    status: WebhookStatus
    attempts: int = 0
    last_status: int | None = None  # the receiver's last HTTP status; None if none answered
    last_error: str | None = None


class Progress(BaseModel):
    stage: ProgressStage
    message: str
    progress: float = Field(ge=0, le=100, description="Percent done, 0-100.")
    step: int | None = None
    total_steps: int | None = None
    eta_seconds: float | None = None
    resumed_from_step: int | None = Field(
        default=None,
        description="This run continued from a checkpoint saved after this step (of total_steps) by a run that a "
        "restart cut short; null when it ran from step 1.",
    )
    updated_at: datetime


@dataclass(frozen=True)
class JobRegion:
    """A job with an edit region (its mask is a job file): how the model is kept to it, and where it works."""

    approach: str  # as the engine names it: latent-mask (the Edit models), marks+latent-mask (Qwen-Image-2.1)
    crop_box: tuple[int, int, int, int] | None  # (left, top, right, bottom) of image 1 edited; None: all of it
    working_size: tuple[int, int]  # (width, height) the model works at: its native area in the crop's aspect


@dataclass
class Job:
    """One edit job. Only the store creates and changes these."""

    id: str
    status: JobStatus
    request: EditRequest
    input_count: int
    created_at: datetime
    owner: str | None = None
    progress: Progress | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = 0
    claimed_by: str | None = None
    lease_expires_at: datetime | None = None
    cancel_requested: bool = False
    # deleted while it ran: its record and files go once its worker lets go (it is hidden from lists meanwhile)
    delete_requested: bool = False
    output_names: list[str] = field(default_factory=list)
    # (width, height) of each upload as sent, when its stored input is smaller; empty when they are equal
    original_sizes: list[tuple[int, int]] = field(default_factory=list)
    starred: bool = False  # kept whatever the retention
    # a result had transparency, and JPEG (no alpha) has it flattened on white
    flattened: bool = False
    # why it went back to the queue last (kept through its next run); None if it never did
    requeue_reason: RequeueReason | None = None
    # its webhook's delivery, once it ended with a `webhook_url` (job views show a pending one before)
    webhook: WebhookState | None = None
    # its edit region, when a mask came with it (issue 20); None: the whole image is edited
    region: JobRegion | None = None


@dataclass(frozen=True)
class WorkerPresence:
    """A worker process as it last told the store (every heartbeat): which model, in what state, where. API
    nodes run no model of their own, so this is how they know what the GPU workers behind them are doing."""

    worker_id: str
    model: str
    model_state: str  # an engine ModelState value: not_loaded, loading, ready, failed
    device: str
    seen_at: datetime
    model_error: str | None = None
