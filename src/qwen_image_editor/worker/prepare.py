"""The prepare stage: claim the oldest queued job, keep its lease alive, read its inputs and fit them to the
model, so that the model stage only edits."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from PIL import Image

from qwen_image_editor.jobs.records import Job, ProgressStage
from qwen_image_editor.regions import RegionEdit, soft_mask
from qwen_image_editor.worker.checkpoints import SavedRun, read_saved_run
from qwen_image_editor.worker.heartbeat import Heartbeat
from qwen_image_editor.worker.progress import progress

if TYPE_CHECKING:
    from qwen_image_editor.worker.runner import Worker


@dataclass
class Prepared:
    """A claimed job, its lease kept alive, with its inputs read and fitted to the model (or the error that
    stopped that), and the result's exact size when it has one; a masked job's region and its mask as the model
    gets it."""

    job: Job
    heartbeat: Heartbeat
    images: list[Image.Image] = field(default_factory=list)
    output_size: tuple[int, int] | None = None
    error: Exception | None = None
    region: RegionEdit | None = None
    region_mask: Image.Image | None = None
    resume: SavedRun | None = None  # where a run cut short left it (a requeued job's checkpoint)


def claim_and_prepare(worker: Worker) -> Prepared | None:
    """Requeue dead workers' jobs, then claim the oldest queued job and read its inputs."""
    # Not its own jobs: one whose lease lapsed while the database could not be written (a full disk) is still
    # this worker's, its outcome waiting to be recorded; requeued, it would run again and meet that stale outcome.
    worker.lifecycle.recover_expired_leases(worker.timing.max_attempts, held=frozenset(worker.held))
    started = time.perf_counter()
    job = worker.lifecycle.claim_next(worker.worker_id, worker.timing.lease_seconds)
    if job is None:
        return None
    worker_id = worker.worker_id
    beat = functools.partial(worker._alive, worker_id)
    heartbeat = Heartbeat(worker.store, job.id, worker_id, worker.timing, beat, worker.held).start()
    try:
        preparing = progress(ProgressStage.PREPARING, "Reading the inputs and the instruction", 2)
        worker.lifecycle.progress(job.id, worker.worker_id, preparing)
        images = worker.blobs.load_inputs(job.id, job.input_count)
        # A job back in the queue after it had started may have left a checkpoint.
        resume = None if job.requeue_reason is None else read_saved_run(worker.blobs, job, worker.engine.model_id)
        if job.region is not None:
            return replace(_prepare_region(worker, job, heartbeat, images), resume=resume)
        # Taken before the inputs are fitted: fitting changes the last image's size.
        exact = (exact_output_size(job) or images[-1].size) if job.request.keep_input_size else None
        output_size = job.request.output_size or exact
        return Prepared(job, heartbeat, worker.engine.fit_inputs(images), output_size, resume=resume)
    except Exception as exc:  # recorded as the job's failure by the model stage, in order
        return Prepared(job, heartbeat, error=exc)
    finally:
        worker.metrics.stage_duration.labels("prepare").observe(time.perf_counter() - started)


def _prepare_region(worker: Worker, job: Job, heartbeat: Heartbeat, images: list[Image.Image]) -> Prepared:
    """A masked job: the model gets image 1 (cropped when its plan says so) and the mask at that size, the
    other references as they are; the engine fits them. Its result has image 1's size, whatever the request."""
    assert job.region is not None
    mask = worker.blobs.load_mask(job.id)
    soft = soft_mask(mask, grow_px=job.request.mask_grow, feather_px=job.request.mask_feather)
    region = RegionEdit(images[0], soft, job.region.crop_box)
    first, region_mask = region.for_the_model()
    return Prepared(job, heartbeat, [first, *images[1:]], first.size, region=region, region_mask=region_mask)


def exact_output_size(job: Job) -> tuple[int, int] | None:
    """The last upload's size as sent, when its stored input is smaller (None: the stored one is exact)."""
    return job.original_sizes[-1] if job.original_sizes else None
