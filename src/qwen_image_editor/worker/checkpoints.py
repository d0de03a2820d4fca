"""A running job's checkpoints, through the blob store (issue 21, point 7: restarts resume).

Every few steps the engine hands the worker its state (engine.checkpoints); the worker packs it with what ties it
to the job's run (which variation, its seed, the model) and a writer thread of its own stores it, so that the
model never waits on the disk or the network. A job requeued after its worker died (a crash, a restart, a lost
lease) reads it back as it is prepared and continues after its step. The checkpoint goes once the job ends.

The file is a zip (stored, not compressed: latents do not compress) of `run.json` and the engine's `latents`
bytes; nothing in it is ever unpickled.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import zipfile
from dataclasses import dataclass

from qwen_image_editor.blobs.base import BlobStore
from qwen_image_editor.engine.checkpoints import Checkpoint
from qwen_image_editor.jobs.records import Job

log = logging.getLogger(__name__)

FORMAT = 1  # run.json's `format`: a file of another format is ignored (the job runs from step 1)
_RUN, _LATENTS = "run.json", "latents"


@dataclass(frozen=True)
class SavedRun:
    """A job's run as its last checkpoint left it: variation `variation` (0-based) of the job, drawn with `seed` by
    `model`, after `checkpoint.step` of its steps."""

    model: str
    variation: int
    seed: int
    checkpoint: Checkpoint

    def fits(self, job: Job, model: str) -> bool:
        """Whether the job, on this model, would draw this very run (else it is not continued from)."""
        seeds = job.request.image_seeds()
        return (
            self.model == model
            and 0 <= self.variation < len(seeds)
            and seeds[self.variation] == self.seed
            and self.checkpoint.total == job.request.num_inference_steps
        )


def pack(run: SavedRun) -> bytes:
    head = {
        "format": FORMAT,
        "model": run.model,
        "variation": run.variation,
        "seed": run.seed,
        "step": run.checkpoint.step,
        "total": run.checkpoint.total,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(_RUN, json.dumps(head))
        archive.writestr(_LATENTS, run.checkpoint.latents)
    return buffer.getvalue()


def unpack(data: bytes) -> SavedRun:
    """The run `pack` wrote. ValueError if the bytes are not one of this format."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            head = json.loads(archive.read(_RUN))
            latents = archive.read(_LATENTS)
        if head.get("format") != FORMAT:
            raise ValueError(f"checkpoint format {head.get('format')!r}, not {FORMAT}")
        checkpoint = Checkpoint(int(head["step"]), int(head["total"]), latents)
        return SavedRun(str(head["model"]), int(head["variation"]), int(head["seed"]), checkpoint)
    except (zipfile.BadZipFile, KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a job checkpoint: {exc}") from exc


def read_saved_run(blobs: BlobStore, job: Job, model: str) -> SavedRun | None:
    """The job's last checkpoint when it fits the job on this model; None when there is none, or it is unreadable
    or another run's (the job then runs from step 1, as it would have without one)."""
    data = blobs.load_checkpoint(job.id)
    if data is None:
        return None
    try:
        run = unpack(data)
    except ValueError:
        log.warning("job %s: its checkpoint is unreadable; it runs from step 1", job.id, exc_info=True)
        return None
    if not run.fits(job, model):
        log.info("job %s: its checkpoint is of another run (model %s); it runs from step 1", job.id, run.model)
        return None
    return run


class CheckpointWriter:
    """Stores and removes checkpoints on a thread of its own, in the order asked for each job. A checkpoint not yet
    stored when a newer one of the same job comes is dropped: only the latest matters."""

    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        self._changed = threading.Condition()
        self._pending: dict[str, bytes | None] = {}  # job id -> checkpoint to store, or None to remove it
        self._busy = False
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="qie-checkpoints", daemon=True)
        self._thread.start()

    def save(self, job_id: str, data: bytes) -> None:
        self._ask(job_id, data)

    def forget(self, job_id: str) -> None:
        """Remove the job's checkpoint, after any of its checkpoints still being stored."""
        self._ask(job_id, None)

    def flush(self) -> None:
        """Wait until everything asked so far is done."""
        with self._changed:
            self._changed.wait_for(lambda: not self._pending and not self._busy)

    def close(self) -> None:
        self.flush()
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join()

    def _ask(self, job_id: str, data: bytes | None) -> None:
        with self._changed:
            self._pending.pop(job_id, None)  # re-inserted last: jobs are served in the order last asked
            self._pending[job_id] = data
            self._changed.notify_all()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._closing)
                if not self._pending:
                    return
                job_id = next(iter(self._pending))
                data = self._pending.pop(job_id)
                self._busy = True
            try:
                if data is None:
                    self._blobs.delete_checkpoint(job_id)
                else:
                    self._blobs.save_checkpoint(job_id, data)
            except Exception:  # a checkpoint is a convenience: the job itself goes on without it
                log.warning(
                    "job %s: %s its checkpoint failed", job_id, "removing" if data is None else "storing", exc_info=True
                )
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()
