"""What the API does with jobs, in one place: submit, read, cancel, delete. Routes call exactly one of these."""

from __future__ import annotations

import errno
import logging
from collections.abc import Collection, Sequence
from typing import BinaryIO

from qwen_image_editor.application.blob_reads import BlobReads, FileToSend
from qwen_image_editor.application.lifecycle import JobLifecycle
from qwen_image_editor.application.quotas import KeyQuotas
from qwen_image_editor.application.uploads import UploadDecoder
from qwen_image_editor.application.webhooks import checked_addresses
from qwen_image_editor.application.workers import WorkersModel, live_workers, workers_model
from qwen_image_editor.blobs.base import BlobStore
from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.validation import validate_sizes
from qwen_image_editor.errors import InvalidRequest, JobNotFound, StorageFull, StorageUnavailable
from qwen_image_editor.jobs.ids import checked_job_id, new_job_id
from qwen_image_editor.jobs.records import Job, JobRegion
from qwen_image_editor.jobs.states import JobStatus
from qwen_image_editor.model_families import DEFAULT_FAMILY, FAMILIES, Capabilities
from qwen_image_editor.regions import MaskMeaning, plan_region, soft_mask
from qwen_image_editor.store.base import JobStore
from qwen_image_editor.store.rules import check_queue_room

log = logging.getLogger(__name__)

# How long after a cancel it can still be undone. The page offers Undo for a few seconds; the margin covers a slow
# network and a running job's last step before it stops.
UNDO_CANCEL_SECONDS = 60.0


class JobService:
    def __init__(
        self,
        store: JobStore,
        blobs: BlobStore,
        lifecycle: JobLifecycle,
        *,
        quotas: KeyQuotas,
        max_image_pixels: int,
        max_queued: int,
        max_concurrent_decodes: int = 2,
        decode_wait_seconds: float = 5.0,
        blob_read_threads: int = 16,
        blob_read_seconds: float = 30.0,
        allow_private_webhooks: bool = False,
        capabilities: Capabilities = FAMILIES[DEFAULT_FAMILY],
    ) -> None:
        self.store, self.blobs, self.lifecycle, self.quotas = store, blobs, lifecycle, quotas
        self.capabilities = capabilities  # of the model the jobs are for: how many images a job takes
        # what requests read of job files goes through here: time-boxed, so a hung store cannot hold them
        self.reads = BlobReads(blobs, max_threads=blob_read_threads, wait_seconds=blob_read_seconds)
        self.max_image_pixels = max_image_pixels
        self.max_queued = max_queued
        self.allow_private_webhooks = allow_private_webhooks
        self.decoder = UploadDecoder(
            max_pixels=max_image_pixels,
            max_concurrent=max_concurrent_decodes,
            wait_seconds=decode_wait_seconds,
            keep_alpha=capabilities.alpha,  # 2.1 reads and writes alpha; the Edit models get uploads on white
        )

    def submit(
        self,
        uploads: Sequence[BinaryIO],
        request: EditRequest,
        *,
        owner: str | None = None,
        mask: BinaryIO | None = None,
        mask_meaning: MaskMeaning = MaskMeaning.OPAQUE_EDITS,
    ) -> Job:
        """Check and store the images (and the region `mask`, read in `mask_meaning`), then queue the job.
        Nothing is kept when anything is refused."""
        problem = self.capabilities.image_count_problem(len(uploads))
        if problem is not None:
            raise InvalidRequest(problem)
        if mask is not None and not uploads:
            raise InvalidRequest("a mask marks where to edit image 1: send image 1 with it", param="mask")
        if mask is not None and request.output_size is not None:
            raise InvalidRequest(
                "a masked edit comes back at image 1's exact size: leave out output_size and aspect_ratio", param="mask"
            )
        # Refuse early when the queue is full (create_job checks again, atomically).
        check_queue_room(self.store.count_by_status()[JobStatus.QUEUED], self.max_queued)
        if owner is not None:  # open mode (no keys) has no one to count against
            self.quotas.check(owner)
        if request.webhook_url is not None:  # checked again before every attempt: DNS answers change
            checked_addresses(request.webhook_url, allow_private=self.allow_private_webhooks)
        # Stored reduced (see imaging.STORED_INPUT_PIXELS); the sizes as sent are kept for exact-size output.
        # Image 1 of a masked job is kept whole: its pixels outside the region come back exactly.
        decoded = [
            self.decoder.decode(upload, f"image{number}", full_size=mask is not None and number == 1)
            for number, upload in enumerate(uploads, start=1)
        ]
        validate_sizes([upload.original_size for upload in decoded])
        region_mask = None if mask is None else self.decoder.decode_mask(mask, decoded[0].image.size, mask_meaning)
        region = None
        if region_mask is not None:
            soft = soft_mask(region_mask, grow_px=request.mask_grow, feather_px=request.mask_feather)
            plan = plan_region(soft, self.capabilities)
            region = JobRegion(plan.approach.value, plan.crop_box, plan.working_size)
        images = [upload.image for upload in decoded]
        original_sizes = [upload.original_size for upload in decoded] if any(u.was_reduced for u in decoded) else []
        request = request.with_seed(request.seed_or_random())  # chosen now, so the job reports it from the start
        job_id = new_job_id()
        try:
            for index, image in enumerate(images, start=1):
                self.blobs.save_input(job_id, index, image)
            if region_mask is not None:
                self.blobs.save_mask(job_id, region_mask)
            return self.lifecycle.create(
                job_id,
                request,
                len(images),
                owner=owner,
                max_queued=self.max_queued,
                original_sizes=original_sizes,
                region=region,
            )
        except OSError as exc:
            self._forget_files(job_id)
            if exc.errno == errno.ENOSPC:
                raise StorageFull("the server's disk is full; try again once space is freed on it") from exc
            raise
        except BaseException:
            self._forget_files(job_id)
            raise

    def _forget_files(self, job_id: str) -> None:
        """Remove what a refused submit wrote, so no file outlives it (each is complete: writes are atomic).
        Best effort when the store is down: what stays has no record, and cleanup removes it as an orphan."""
        try:
            self.blobs.delete_job_files(job_id)
        except StorageUnavailable:
            log.warning("job %s: its input files stay until cleanup finds them recordless (the store is down)", job_id)

    def get(self, job_id: str, *, owner: str | None = None) -> Job:
        return self.store.get_job(checked_job_id(job_id), owner=owner)

    async def open_file(self, job: Job, name: str, *, download_name: str | None = None) -> str | FileToSend:
        """A job file for sending, time-boxed: for an attachment (`download_name`), the store's short-lived URL
        where it gives one; else the file, opened. JobNotFound when the job has no such file."""
        try:
            url = None
            if download_name is not None:
                url = await self.reads.presigned_url(job.id, name, download_name=download_name)
            return url if url is not None else await self.reads.open_file(job.id, name)
        except FileNotFoundError as exc:
            raise JobNotFound(f"job {job.id} has no file {name!r}") from exc

    async def read_file(self, job: Job, name: str) -> bytes:
        """A job file's bytes, time-boxed (a zip of the results, the OpenAI answer). JobNotFound as above."""
        try:
            return await self.reads.read_bytes(job.id, name)
        except FileNotFoundError as exc:
            raise JobNotFound(f"job {job.id} has no file {name!r}") from exc

    def queue_length(self) -> int:
        """Jobs waiting to run, everyone's (the health check's and the activity feed's count)."""
        return self.store.count_by_status()[JobStatus.QUEUED]

    def live_workers_model(self, heartbeat_seconds: float) -> WorkersModel | None:
        """The model as the GPU workers heard from lately have it (an API node's health); None without one."""
        return workers_model(live_workers(self.store, heartbeat_seconds))

    def queue_positions(self, jobs: Sequence[Job]) -> dict[str, int]:
        """Where each queued job of `jobs` waits (1 = next), in one query; other jobs are absent."""
        queued = [job.id for job in jobs if job.status is JobStatus.QUEUED]
        return self.store.queue_positions(queued) if queued else {}

    def list(
        self,
        *,
        limit: int,
        offset: int,
        status: JobStatus | Collection[JobStatus] | None,
        owner: str | None = None,
        search: str | None = None,
        starred: bool | None = None,
    ) -> tuple[list[Job], int]:
        return self.store.list_jobs(
            limit=limit, offset=offset, status=status, owner=owner, search=search, starred=starred
        )

    def star(self, job_id: str, starred: bool, *, owner: str | None = None) -> Job:
        """A starred job is kept whatever the retention (it can still be deleted)."""
        return self.store.set_starred(checked_job_id(job_id), starred, owner=owner)

    def cancel(self, job_id: str, *, owner: str | None = None) -> Job:
        return self.lifecycle.request_cancel(checked_job_id(job_id), owner=owner)

    def cancel_queued(self, *, owner: str | None = None) -> Sequence[Job]:
        """Cancel every queued job of `owner` (None, in open mode: every queued job); running ones go on."""
        return self.lifecycle.cancel_queued(owner=owner)

    def undo_cancel(self, job_id: str, *, owner: str | None = None) -> Job:
        """Queue a job cancelled moments ago again, ahead of the rest, with its request (and seed) as it was."""
        return self.lifecycle.undo_cancel(checked_job_id(job_id), owner=owner, within_seconds=UNDO_CANCEL_SECONDS)

    def delete(self, job_id: str, *, owner: str | None = None) -> tuple[Job, bool]:
        """Remove the record and the files; returns the job as it was last, and whether it is gone already.
        A queued job is cancelled first. A running one is not waited for: it is flagged to stop at its next step,
        hidden from lists, and its record and files go once its worker lets go (`JobLifecycle`)."""
        job = self.get(job_id, owner=owner)
        if job.status is JobStatus.QUEUED:
            job = self.cancel(job.id, owner=owner)
        job, gone = self.store.delete_or_mark(job.id, owner=owner)
        if gone:
            try:
                self.reads.delete_job_files(job.id)
            except StorageUnavailable:  # the record is gone, so is the job; cleanup takes its files as orphans
                log.warning("job %s deleted; its files go later or with cleanup (the store is slow or down)", job.id)
        return job, gone
