"""A running job's checkpoints, through the blob store (issue 21, point 7: restarts resume).

Every few steps the engine hands the worker its state (engine.checkpoints); the worker packs it with what ties it
to the job's run (which variation, its seed, the model) and a writer thread of its own stores it, so that the
model never waits on the disk or the network. A job requeued after its worker died (a crash, a restart, a lost
lease) reads it back as it is prepared and continues after its step. The checkpoint goes once the job ends, a
cancelled job's once the cancel can no longer be undone (an undone job continues from it too).

The file is a zip (stored, not compressed: latents do not compress) of `run.json` and the engine's `latents`
bytes; nothing in it is ever unpickled.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import zipfile
from collections.abc import Callable
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


@dataclass(frozen=True)
class _Removal:
    """Remove a job's checkpoint; when `only_if` is given, only if it still says so once it is the removal's turn."""

    only_if: Callable[[], bool] | None = None


class CheckpointWriter:
    """Stores and removes checkpoints on a thread of its own, in the order asked for each job. A checkpoint not yet
    stored when a newer one of the same job comes is dropped: only the latest matters. A removal may be put off
    (`forget_later`): a cancelled job's checkpoint is kept while the cancel can be undone."""

    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        self._changed = threading.Condition()
        self._pending: dict[str, bytes | _Removal] = {}  # job id -> checkpoint to store, or its removal
        self._later: dict[str, tuple[float, _Removal]] = {}  # job id -> (monotonic time due, put-off removal)
        self._busy = False
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="qie-checkpoints", daemon=True)
        self._thread.start()

    def save(self, job_id: str, data: bytes) -> None:
        self._ask(job_id, data)

    def forget(self, job_id: str) -> None:
        """Remove the job's checkpoint, after any of its checkpoints still being stored."""
        self._ask(job_id, _Removal())

    def forget_later(self, job_id: str, seconds: float, only_if: Callable[[], bool]) -> None:
        """Remove the job's checkpoint `seconds` from now if `only_if()` still says so then (asked off the lock, on
        this writer's thread). Anything asked for the job meanwhile replaces it; closing the writer brings it
        forward (nothing is left behind for good)."""
        with self._changed:
            self._later[job_id] = (time.monotonic() + seconds, _Removal(only_if))
            self._changed.notify_all()

    def flush(self) -> None:
        """Wait until everything asked so far is done (put-off removals aside)."""
        with self._changed:
            self._changed.wait_for(lambda: not self._pending and not self._busy)

    def close(self) -> None:
        self.flush()
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join()

    def _ask(self, job_id: str, work: bytes | _Removal) -> None:
        with self._changed:
            self._later.pop(job_id, None)
            self._pending.pop(job_id, None)  # re-inserted last: jobs are served in the order last asked
            self._pending[job_id] = work
            self._changed.notify_all()

    def _take_due(self) -> None:
        """Move the put-off removals that are due (all of them once closing) to the pending work."""
        now = time.monotonic()
        for job_id, (due, removal) in list(self._later.items()):
            if self._closing or due <= now:
                del self._later[job_id]
                self._pending.setdefault(job_id, removal)

    def _wait_for_work(self) -> bool:
        """With the lock held: wait until there is pending work (True) or the writer closes with none (False)."""
        while True:
            self._take_due()
            if self._pending:
                return True
            if self._closing:
                return False
            soonest = min((due for due, _ in self._later.values()), default=None)
            self._changed.wait(None if soonest is None else max(soonest - time.monotonic(), 0.0))

    def _run(self) -> None:
        while True:
            with self._changed:
                if not self._wait_for_work():
                    return
                job_id = next(iter(self._pending))
                work = self._pending.pop(job_id)
                self._busy = True
            try:
                if isinstance(work, bytes):
                    self._blobs.save_checkpoint(job_id, work)
                elif work.only_if is None or work.only_if():
                    self._blobs.delete_checkpoint(job_id)
            except Exception:  # a checkpoint is a convenience: the job itself goes on without it
                log.warning(
                    "job %s: %s its checkpoint failed",
                    job_id,
                    "storing" if isinstance(work, bytes) else "removing",
                    exc_info=True,
                )
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()
