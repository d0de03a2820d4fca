"""The prepare and finish stages around the model thread, so that the model never waits on the CPU:

    prepare (claim, read and fit the inputs)  ->  model (one edit at a time)  ->  finish (encode, save, complete)

The next job is claimed, and its inputs decoded and resized to the model's sizes, on a prepare thread while the
current edit runs its last steps, and no earlier, so a worker never sits on a job that another worker could
start sooner. Results are composited, encoded and saved on a small pool (two at once on two cores) while the
model runs the next job; one recorder thread then records outcomes in the order the model finished the jobs,
each only once its files are in place. Progress has a thread of its own.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from qwen_image_editor.engine.base import EditResult
from qwen_image_editor.jobs.records import Job
from qwen_image_editor.regions import RegionEdit
from qwen_image_editor.worker.checkpoints import CheckpointWriter
from qwen_image_editor.worker.heartbeat import Heartbeat, then_stop
from qwen_image_editor.worker.outcomes import Outcomes
from qwen_image_editor.worker.prefetch import Prefetcher
from qwen_image_editor.worker.prepare import Prepared, claim_and_prepare
from qwen_image_editor.worker.progress import ProgressReporter
from qwen_image_editor.worker.recorder import Recorder

if TYPE_CHECKING:
    from qwen_image_editor.worker.runner import Worker


class Stages:
    """The prepare and finish stages around the model thread, for one run of the worker's loop."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.recorder = Recorder("qie-recorder")
        # Encoding a result is CPU work that releases the GIL (zlib, libwebp), so results encode side by side.
        self.savers = ThreadPoolExecutor(worker.finish_threads, thread_name_prefix="qie-finish")
        # At most this many results wait or are being saved: their pixels are held in memory until then.
        self._room = threading.Semaphore(worker.finish_threads)
        # Progress has a thread of its own: the next job's first steps reach watchers at once, not after the
        # previous result has been encoded and stored. A job's outcome waits for its progress (`_after_progress`).
        self.progress = ProgressReporter(worker.lifecycle, worker.worker_id)
        # Checkpoints are stored on a thread of their own: the model never waits on the disk or the network.
        self.checkpoints = CheckpointWriter(worker.blobs)
        self.outcomes = Outcomes(worker, self.checkpoints)
        self.prefetcher = Prefetcher(functools.partial(claim_and_prepare, worker))

    def next_job(self) -> Prepared | None:
        return self.prefetcher.take() or claim_and_prepare(self.worker)

    def conclude(self, heartbeat: Heartbeat, outcome: Callable[[], None]) -> None:
        """Record a job's outcome after its progress so far, then let its lease go."""
        self.recorder.submit(then_stop(self._after_progress(outcome), heartbeat))

    def finish(self, job: Job, heartbeat: Heartbeat, results: list[EditResult], region: RegionEdit | None) -> None:
        """Save the results on the pool at once (a masked job's put back on image 1 there first); record the
        outcome in order once they are in place. Waits while the pool's every thread is still busy with earlier
        results."""
        self._room.acquire()
        saved = self.savers.submit(self.outcomes.save, job, heartbeat, results, region)
        saved.add_done_callback(lambda _: self._room.release())
        self.conclude(heartbeat, functools.partial(self.outcomes.record_saved, job, heartbeat, saved))

    def _after_progress(self, outcome: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            self.progress.flush()  # the job's progress, handed over before its outcome, is recorded first
            outcome()

        return run

    def close(self) -> None:
        leftover = self.prefetcher.close()
        if leftover is not None:  # claimed ahead but never run: back to the queue, its place kept
            self.conclude(leftover.heartbeat, functools.partial(self.outcomes.hand_back, leftover.job))
        self.recorder.close()  # first: its outcomes wait for the savers and the progress reporter
        self.savers.shutdown()
        self.progress.close()
        self.checkpoints.close()  # last: the recorder removes the checkpoints of the jobs that ended
