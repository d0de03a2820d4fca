"""A running job's progress: what each step means on the progress bar, and a thread of its own that records it,
so that the next job's first steps reach watchers at once, not after the previous result has been stored."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from qwen_image_editor.application.lifecycle import JobLifecycle
from qwen_image_editor.engine.base import StepProgress
from qwen_image_editor.jobs.events import Preview
from qwen_image_editor.jobs.records import Job, Progress, ProgressStage
from qwen_image_editor.worker.recorder import Recorder

# Share of the progress bar before denoising starts and after it ends (decode and save).
_DENOISE_START, _DENOISE_END = 5.0, 95.0


class ProgressReporter:
    """Records jobs' progress in the order given, on a thread of its own."""

    def __init__(self, lifecycle: JobLifecycle, worker_id: str) -> None:
        self._lifecycle, self._worker_id = lifecycle, worker_id
        self._recorder = Recorder("qie-reporter")

    def report(self, job: Job, progress: Progress, preview: Preview | None = None) -> None:
        lifecycle, worker_id = self._lifecycle, self._worker_id
        self._recorder.submit(lambda: lifecycle.progress(job.id, worker_id, progress, preview))

    def flush(self) -> None:
        """Wait until the progress handed over so far is recorded."""
        self._recorder.flush()

    def close(self) -> None:
        self._recorder.close()


class StepCounter:
    """Turns the engine's steps into a job's progress, on the model thread: where the run continued from, and
    how long each step took."""

    def __init__(self, observe_step_seconds: Callable[[float], None]) -> None:
        self._observe = observe_step_seconds
        self._last_step: tuple[str, int, float] | None = None  # job id, step, when: for step durations
        self._resumed: tuple[str, int] | None = None  # job id, the step its run continued from

    def progress(self, job: Job, step: StepProgress) -> Progress:
        """`step` counts across all of the job's images (see `across_images`)."""
        count = job.request.num_images
        per_image = step.total // count
        image, step_in_image = divmod(step.step - 1, per_image)
        done = step_in_image + 1 == per_image
        resumed_from = self._resumed_from(job.id, step.step)
        self._observe_step(job.id, step.step, first_of_image=step_in_image == 0)
        eta = step.eta_seconds
        return progress(
            ProgressStage.DECODING if done else ProgressStage.DENOISING,
            _step_message(image, count, step_in_image + 1, per_image),
            _DENOISE_START + step.step / step.total * (_DENOISE_END - _DENOISE_START),
            step=step.step,
            total_steps=step.total,
            eta_seconds=None if eta is None else round(eta, 1),
            resumed_from_step=resumed_from,
        )

    def resumed(self, job_id: str) -> int | None:
        """The step this run of the job continued from, if it continued from a checkpoint."""
        resumed = self._resumed
        return resumed[1] if resumed is not None and resumed[0] == job_id else None

    def _resumed_from(self, job_id: str, step: int) -> int | None:
        """The step this run of the job continued from, when it continued from a checkpoint: its steps came on
        from there, not from the step after the last one this run reported (none: 0)."""
        last = self._last_step
        previous = last[1] if last is not None and last[0] == job_id else 0
        if step == 1:
            self._resumed = None
        elif step != previous + 1:
            self._resumed = (job_id, step - 1)
        return self.resumed(job_id)

    def _observe_step(self, job_id: str, step: int, *, first_of_image: bool) -> None:
        """A step's duration is the time since the previous one (the first of an image also encodes)."""
        now = time.perf_counter()
        last, self._last_step = self._last_step, (job_id, step, now)
        if last is not None and not first_of_image and last[:2] == (job_id, step - 1):
            self._observe(now - last[2])


def across_images(on_step: Callable[[StepProgress], None], index: int, count: int, step: StepProgress) -> None:
    """Count a variation's steps across all of the job's images: image 2 of 4 at step 3 of 8 is step 11 of 32
    (and the time left, from the measured step rate, covers the images still to come)."""
    on_step(replace(step, step=index * step.total + step.step, total=count * step.total))


def _step_message(image: int, count: int, step: int, per_image: int) -> str:
    if step == per_image:
        return f"Decoding image {image + 1} of {count}" if count > 1 else "Decoding the image"
    return f"Image {image + 1} of {count}: step {step} of {per_image}" if count > 1 else f"Step {step} of {per_image}"


def progress(
    stage: ProgressStage,
    message: str,
    percent: float,
    *,
    step: int | None = None,
    total_steps: int | None = None,
    eta_seconds: float | None = None,
    resumed_from_step: int | None = None,
) -> Progress:
    return Progress(
        stage=stage,
        message=message,
        progress=round(percent, 1),
        step=step,
        total_steps=total_steps,
        eta_seconds=eta_seconds,
        resumed_from_step=resumed_from_step,
        updated_at=datetime.now(UTC),
    )
