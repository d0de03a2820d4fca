"""The engine interface that the worker and the CLI program against; `diffusers_engine` and `fake` implement it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from PIL import Image

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.checkpoints import Checkpointing
from qwen_image_editor.engine.loras import LoraInfo


class ModelState(StrEnum):
    """Where the engine's model is in its life."""

    NOT_LOADED = "not_loaded"  # nothing loaded yet; the first edit (or a preload) starts loading
    LOADING = "loading"  # from_pretrained is running in some thread
    READY = "ready"  # edits can run
    FAILED = "failed"  # loading failed; `load_error` says why, the next edit tries again


@dataclass(frozen=True)
class PreviewImage:
    """A small encoded picture of the result as it forms (see `engine.preview`)."""

    media_type: str  # e.g. image/webp
    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class StepProgress:
    """One denoising step finished: `step` of `total` (1-based), `elapsed` seconds since the edit began."""

    step: int
    total: int
    elapsed: float
    seconds_per_step: float | None = None  # measured between steps; unknown after the first one
    preview: PreviewImage | None = None  # at some steps only (rate-limited), when previews are on

    @property
    def eta_seconds(self) -> float | None:
        """Time left at the measured step rate (the time before step 1 is encoding, not denoising)."""
        if self.step >= self.total:
            return 0.0
        return None if self.seconds_per_step is None else self.seconds_per_step * (self.total - self.step)


class StepClock:
    """Turns step callbacks into StepProgress with a step rate measured from the first step on. `start`: the steps
    done before this run (it continues from a checkpoint), so its first step is `start + 1`."""

    def __init__(self, total: int, start: int = 0) -> None:
        self.total = total
        self.start = start
        self.started = time.perf_counter()
        self._first_step_at: float | None = None

    def tick(self, step: int) -> StepProgress:
        now = time.perf_counter()
        if self._first_step_at is None:
            self._first_step_at = now
        run = step - self.start  # this run's steps so far
        rate = (now - self._first_step_at) / (run - 1) if run > 1 else None
        return StepProgress(step=step, total=self.total, elapsed=now - self.started, seconds_per_step=rate)


StepCallback = Callable[[StepProgress], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class EditResult:
    """An edited image and what is needed to reproduce it."""

    image: Image.Image
    seed: int
    seconds: float
    # How the model was held to the job's region (engine.inpainting: e.g. `latent-mask`); None without a region.
    region_approach: str | None = None


class EditEngine(Protocol):
    """Runs edits on one loaded model. Safe to call from any thread; edits never overlap."""

    @property
    def model_id(self) -> str:
        """The model as configured: a Hugging Face id, a local folder, or `tiny`."""
        ...

    @property
    def device(self) -> str:
        """`cuda` or `cpu`: where the model runs (or will run)."""
        ...

    @property
    def is_demo(self) -> bool:
        """True when the model has random weights and its outputs are noise."""
        ...

    @property
    def state(self) -> ModelState:
        """The model's state; readable at any time without blocking."""
        ...

    @property
    def load_error(self) -> str | None:
        """Why the last load failed, for people; None unless `state` is FAILED."""
        ...

    def load(self) -> None:
        """Load the model if it is not loaded; blocks until ready. Raises ModelUnavailable."""
        ...

    def loras(self) -> list[LoraInfo]:
        """The LoRA files (`<data>/loras/*.safetensors`) a job may name, and whether each fits the model."""
        ...

    def fit_inputs(self, images: Sequence[Image.Image]) -> list[Image.Image]:
        """The inputs at the sizes the loaded model takes them (unchanged before it is loaded). CPU work the
        worker does on its prepare thread while the previous edit runs; `edit` does it again, a no-op then.
        The last image's size no longer tells the input size: pass `output_size` for an exact-size result."""
        ...

    def edit(
        self,
        images: Sequence[Image.Image],
        request: EditRequest,
        on_step: StepCallback | None = None,
        should_cancel: CancelCheck | None = None,
        output_size: tuple[int, int] | None = None,
        region: Image.Image | None = None,
        checkpoints: Checkpointing | None = None,
    ) -> EditResult:
        """Validate, load if needed, and run one edit.

        `output_size`: the result's exact (width, height), e.g. the size an upload had before it was stored
        reduced. Without it, `keep_input_size` means the last image's size, else the model's ~1 MP size.

        `region`: where to edit, as a mask the size of image 1 (mode L, 255 = edit, 0 = keep; soft between). The
        engine keeps what lies outside as it can (each family in its way: see engine.families) and returns the
        result at image 1's size; the caller composites it onto image 1, so outside pixels stay exactly theirs.

        `checkpoints`: hand the edit's state to `checkpoints.save` every few steps, and continue from
        `checkpoints.resume_from` (steps then count on from its step), with the result a run from step 1 gives
        (engine.checkpoints). A checkpoint that does not fit the edit is ignored: it runs from step 1.

        Raises InvalidRequest before any model work when the input is refused, EditCancelled at the
        next step once `should_cancel()` is true, and ModelUnavailable when the model cannot load.
        """
        ...
