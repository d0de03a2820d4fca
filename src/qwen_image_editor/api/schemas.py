"""Response bodies of the API; the web UI's types are generated from these through OpenAPI."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from qwen_image_editor.edit_request import EditRequest, OutputFormat
from qwen_image_editor.engine.base import ModelState
from qwen_image_editor.jobs.events import JobEventKind
from qwen_image_editor.jobs.records import Progress, RequeueReason, WebhookStatus
from qwen_image_editor.jobs.states import JobStatus, TerminalJobStatus
from qwen_image_editor.model_families import ModelFamily


class ReadinessResponse(BaseModel):
    ready: bool = Field(description="True when the database and the job files are reachable: send traffic here.")
    problems: list[str] = Field(description="Why not, when not ready (empty when ready).")


class LicenseView(BaseModel):
    """The model's license: the Edit models are Apache-2.0, Qwen-Image-2.1 is under the Qwen Research License."""

    id: str = Field(description="An SPDX id, or LicenseRef-... where there is none.")
    name: str
    url: str


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
    workers: int = Field(
        default=0,
        description="On an API node (no in-process worker): the GPU worker processes heard from in the last "
        "minute; model, model_state and device then describe them. 0 elsewhere.",
    )
    keys_required: bool = Field(description="Callers need an API key or a session (some key exists).")
    license: LicenseView = Field(description="The license of the server's model.")
    warning: str | None = Field(description="Something the operator should fix, e.g. serving with no auth.")


class LimitsResponse(BaseModel):
    """Every limit and default the UI needs, so none is written twice. Those of the model come from the server's
    model family (`model_families`)."""

    model_name: str = Field(description="The model family's release, e.g. Qwen-Image-Edit-2511.")
    family: ModelFamily
    license: LicenseView
    min_images: int = Field(description="Images a job must send; 0 when the model can make one from text alone.")
    max_images: int = Field(description="Images a job may send (references, image1..imageN).")
    text_to_image: bool = Field(description="Whether a job may send no image (the page's Create mode).")
    alpha: bool = Field(description="Whether transparent inputs keep their alpha and results may have one.")
    fast: str = Field(description="What the few-step switch (`lightning`) runs on this model, exactly.")
    no_previews_because: str | None = Field(
        description="Why jobs of this model stream no live preview (null when they do), for the page to say."
    )
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
    stored_input_pixels: int = Field(
        description="Inputs are kept reduced to at most this many pixels (aspect kept), all but image 1 of a job "
        "with a region: a page may reduce a larger file to this size before sending it, losing nothing."
    )
    native_pixels: int = Field(description="The area the model draws at when no size is asked for (about 1 MP).")
    size_multiple: int = Field(description="The model draws each side at a multiple of this many pixels.")
    max_output_side: int = Field(description="The longest side `output_size` may ask for.")
    lightning_steps: list[int] = Field(
        description="Step counts a `lightning` job runs at (any other count runs the model's default of these)."
    )
    max_loras: int = Field(description="LoRAs one job may name.")
    max_num_images: int = Field(description="Variations one job may ask for (`num_images`).")
    min_lora_weight: float
    max_lora_weight: float


class WebhookView(BaseModel):
    """A job's webhook: where it goes and how its delivery went (README, "Webhooks")."""

    url: str
    status: WebhookStatus = Field(
        description="`pending` (not tried yet; the job may still be running), `retrying` (failed, tried again "
        "later), `delivered` (the receiver answered 2xx), `failed` (given up)."
    )
    attempts: int = Field(description="Deliveries tried so far.")
    last_status: int | None = Field(description="The receiver's HTTP status at the last attempt; null if none.")
    last_error: str | None = Field(description="Why the last attempt failed; null once delivered.")


class RegionView(BaseModel):
    """How a masked job keeps to its region (issue 20); outside it, the result is image 1's pixels exactly."""

    approach: str = Field(
        description="How the model is kept to the region before the exact composite: `latent-mask` (the Edit "
        "models: latents outside held on image 1's at each step), `marks+latent-mask` (Qwen-Image-2.1: marks painted "
        "on image 1 that the prompt names, and the same hold). The plan until the job completes, then as it ran."
    )
    crop_box: tuple[int, int, int, int] | None = Field(
        description="[left, top, right, bottom] of image 1 that the model edits (crop and stitch, for a small "
        "region in a large image); null when it edits the whole image."
    )
    working_size: tuple[int, int] = Field(
        description="[width, height] the model works at: its native area in the crop's (or image's) aspect."
    )


class JobView(BaseModel):
    """What a client sees of a job: `GET /api/jobs/{id}`, history entries and the WebSocket's job messages."""

    job_id: str
    status: JobStatus
    config: EditRequest = Field(description="The request as run; `seed` is always filled in.")
    progress: Progress | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queue_position: int | None = Field(description="1 = next to run; null unless queued.")
    attempts: int = Field(description="Runs started so far (a run interrupted by a dead worker counts).")
    inputs: list[str] = Field(description="URLs of the input images, in order.")
    outputs: list[str] = Field(description="URLs of the results; empty until complete.")
    thumbnail: str | None = Field(description="URL of a small WebP of the result, once complete.")
    starred: bool = Field(description="Kept whatever the retention.")
    kept_until: datetime | None = Field(
        description="When the retention sweep will delete it; null when it is kept until deleted."
    )
    requeue_reason: RequeueReason | None = Field(
        description="Why it went back to the queue after it had started, the last time it did (kept through "
        'its next run): `restart` (its service restarted after a crash; the page says "requeued after a '
        'restart"), `lease_expired` (its worker stopped answering), `shutdown` (its worker shut down), '
        "`cancel_undone` (its cancel was undone: it runs ahead of the queue). "
        "Null if it never did."
    )
    webhook: WebhookView | None = Field(description="Its webhook, when the request has a `webhook_url`.")
    deleting: bool = Field(
        default=False,
        description="Deleted while it ran: it stops at its next step, then its record and files go (a GET is "
        "404 from then on). Lists leave it out meanwhile.",
    )
    mask: str | None = Field(
        description="URL of the job's region mask (greyscale PNG at image 1's size, white = edit), when it has "
        "one; null otherwise.",
    )
    region: RegionView | None = Field(
        description="How and where the model edits the masked region; null without a mask."
    )
    flattened: bool = Field(
        default=False,
        description="A result had transparency (the model draws alpha, e.g. Qwen-Image-2.1) and was flattened on "
        "white, as JPEG has no alpha; ask for PNG or WebP to keep it. False otherwise.",
    )


class SubmitResponse(JobView):
    """The queued job, whole (the original deployment's clients read job_id, status, message, queue_position)."""

    message: str


class JobListResponse(BaseModel):
    jobs: list[JobView]
    total: int


class DeleteResponse(BaseModel):
    message: str
    job_id: str


class CancelQueuedResponse(BaseModel):
    message: str
    job_ids: list[str] = Field(description="The jobs cancelled, in the order they were queued.")


# A whole-job message's type: its first, a change of state, or its final one (named after the final state).
JobMessageType = Literal["snapshot", "status", TerminalJobStatus]


class WsCloseCode(IntEnum):
    """Why the server closed a WebSocket. In the OpenAPI schema (`WsCloseCode`, and `WsCloseCodes` by name), so
    the page's generated types carry them."""

    NORMAL = 1000  # the job ended (after its final message)
    NOT_AUTHORISED = 1008  # policy violation: no valid key or session, a foreign origin, or an unknown Host
    UNKNOWN_JOB = 4404  # no such job, or it was deleted while watched


class JobMessage(JobView):
    """A WebSocket message carrying the whole job: the first one (`snapshot`), every change of state
    (`status`), and the final one (`complete`, `error` or `cancelled`, after which the server closes)."""

    type: JobMessageType
    event: JobEventKind | None = Field(description="What changed; null for the snapshot.")


class ProgressMessage(BaseModel):
    """A WebSocket message per stage and per denoising step: small, the rest of the job is unchanged."""

    type: Literal["progress"] = "progress"
    job_id: str
    status: Literal[JobStatus.PROCESSING] = JobStatus.PROCESSING
    progress: Progress
    preview: str | None = Field(
        default=None,
        description="While denoising, at most ~4 times a second: a small picture of the result as it forms "
        "(at most 256 px on its long side), as a `data:image/webp;base64,...` URL for an <img>; null in the "
        "other progress messages. Only on the socket, never stored.",
    )


WsMessage = Annotated[JobMessage | ProgressMessage, Field(discriminator="type")]


class ActiveJobsMessage(BaseModel):
    """On `WS /ws`: the caller's queued and running jobs and the queue's length, first and after every change
    (changes follow as job messages, running jobs' steps as progress messages)."""

    type: Literal["active"] = "active"
    queue_length: int = Field(description="Jobs waiting to run, everyone's.")
    jobs: list[JobView] = Field(description="The caller's queued and running jobs, oldest first.")


ActivityMessage = Annotated[JobMessage | ProgressMessage | ActiveJobsMessage, Field(discriminator="type")]


class SessionRequest(BaseModel):
    key: str = Field(min_length=1, max_length=256, description="An API key, exchanged for a session cookie.")


class SessionResponse(BaseModel):
    keys_required: bool = Field(description="False in open mode: no key exists, nobody needs to sign in.")
    signed_in: bool
    name: str | None = Field(description="The key this session acts as.")
    admin: bool
    expires_at: datetime | None = None


class LoraView(BaseModel):
    name: str = Field(description="What a job names in `loras` (the file name without `.safetensors`).")
    size_bytes: int
    matches: bool | None = Field(description="Whether it fits the loaded model; null until the model has loaded.")
    reason: str | None = Field(description="Why it does not fit, when it does not.")


class LoraListResponse(BaseModel):
    loras: list[LoraView]


class CleanupResponse(BaseModel):
    deleted: list[str]
    message: str


class ErrorResponse(BaseModel):
    detail: str = Field(description="What went wrong and what to do about it.")
