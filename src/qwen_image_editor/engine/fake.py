"""A fake engine with the real interface: holds a simulated GPU for a fixed time per step and returns a
photo-like image of the size the real pipeline would produce (~1 MP at the last input's aspect), so
everything around the model (encoding, thumbnails, previews) costs what it costs with a real model.

For testing the queue, the worker and the API quickly and deterministically; never used for real edits.
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.base import CancelCheck, EditResult, ModelState, StepCallback, StepClock
from qwen_image_editor.engine.checkpoints import Checkpointing
from qwen_image_editor.engine.loading import LoadOnce
from qwen_image_editor.engine.loras import LoraInfo, list_loras, lora_path
from qwen_image_editor.engine.preview import MAX_SIDE, PreviewRate, encode_preview
from qwen_image_editor.engine.validation import validate_images
from qwen_image_editor.errors import EditCancelled, ModelUnavailable
from qwen_image_editor.model_families import DEFAULT_FAMILY, FAMILIES, Capabilities

# What the Qwen-Image-Edit pipelines aim their output at.
REALISTIC_OUTPUT_PIXELS = 1024 * 1024


class GpuMeter:
    """How long the simulated GPU was busy, and over which span (for `make bench`'s busy fraction)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.busy_seconds = 0.0
        self.first_busy_at: float | None = None
        self.last_idle_at: float | None = None

    @contextmanager
    def busy(self) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            ended = time.perf_counter()
            with self._lock:
                self.busy_seconds += ended - began
                self.first_busy_at = began if self.first_busy_at is None else self.first_busy_at
                self.last_idle_at = ended

    @property
    def busy_fraction(self) -> float:
        """Busy time over the span from the first busy moment to the last; 0 before any."""
        if self.first_busy_at is None or self.last_idle_at is None or self.last_idle_at <= self.first_busy_at:
            return 0.0
        return self.busy_seconds / (self.last_idle_at - self.first_busy_at)

    def reset(self) -> None:
        with self._lock:
            self.busy_seconds, self.first_busy_at, self.last_idle_at = 0.0, None, None


class StepGate:
    """Holds every edit before one step until a test opens it: a running job on demand, however fast or slow
    the machine. An edit waiting at a closed gate still stops when it is cancelled, as at any step.

    `is_open`: also let edits through once it says so (a test in another process opens the gate that way)."""

    def __init__(self, before_step: int, is_open: Callable[[], bool] | None = None) -> None:
        self.before_step = before_step
        self._opened = threading.Event()
        self._is_open = is_open
        self._held = threading.Semaphore(0)  # released once per edit that reached the gate

    def open(self) -> None:
        self._opened.set()

    def wait_held(self, count: int = 1, timeout: float = 60.0) -> None:
        """Wait until `count` more edits are waiting at (or went through) the gate."""
        for _ in range(count):
            if not self._held.acquire(timeout=timeout):
                raise TimeoutError(f"no edit reached step {self.before_step} within {timeout:g} s")

    def pass_through(self, step: int, should_cancel: CancelCheck | None) -> None:
        if step != self.before_step:
            return
        self._held.release()
        while not (self._opened.is_set() or (self._is_open is not None and self._is_open())):
            if should_cancel is not None and should_cancel():
                raise EditCancelled(f"cancelled before step {step}")
            self._opened.wait(0.01)


class FakeEngine:
    """Behaves like DiffusersEngine from the outside. Prompts with `raise:` script failures, and `hold` stops
    edits at a step until the test lets them go.

    `output_pixels`: the result's area (tests pass a small one to stay fast); `output_size` fixes the size.
    `hold_file`: while that file exists, every edit waits before its first step (the gate of a test that runs
    `qie serve` or `qie worker` in another process: it deletes the file to let them go).
    """

    def __init__(
        self,
        step_seconds: float = 0.01,
        load_seconds: float = 0.0,
        *,
        fail_load: bool = False,
        output_size: tuple[int, int] | None = None,
        output_pixels: int = REALISTIC_OUTPUT_PIXELS,
        previews: bool = True,
        loras_dir: Path | None = None,
        hold_file: Path | None = None,
        capabilities: Capabilities = FAMILIES[DEFAULT_FAMILY],
    ) -> None:
        self.capabilities = capabilities  # which family it stands in for: what a request may ask of it
        self.step_seconds = step_seconds
        self.loras_dir = loras_dir
        self.load_seconds = load_seconds
        self.fail_load = fail_load
        self.output_size = output_size
        self.output_pixels = output_pixels
        self.previews = previews and capabilities.no_previews_because is None  # as the real engine: none for 2.1
        self.edits_run = 0
        self.resumed_from: list[int] = []  # the step of each checkpoint an edit continued from
        self.gpu = GpuMeter()
        self.gate: StepGate | None = None
        if hold_file is not None:
            self.gate = StepGate(1, is_open=lambda: not hold_file.exists())
        self._loading = LoadOnce(self.model_id)
        self._edit_lock = threading.Lock()

    model_id = "fake"
    device = "cpu"
    is_demo = True

    @property
    def state(self) -> ModelState:
        return self._loading.state

    @property
    def load_error(self) -> str | None:
        return self._loading.error

    def load(self) -> None:
        self._loading.run(self._load)

    def loras(self) -> list[LoraInfo]:
        """The folder's LoRA files; the fake model has no layers to check them against."""
        return list_loras(self.loras_dir, None)

    def hold(self, before_step: int = 1) -> StepGate:
        """From now on, edits wait before `before_step` (1: before any step) until the gate is opened."""
        self.gate = StepGate(before_step)
        return self.gate

    def _load(self) -> None:
        time.sleep(self.load_seconds)
        if self.fail_load:
            raise ModelUnavailable("the fake model is set to fail loading")

    def fit_inputs(self, images: Sequence[Image.Image]) -> list[Image.Image]:
        """The fake model takes any size."""
        return list(images)

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
        validate_images(images, self.capabilities)
        seed = request.seed_or_random()
        self.load()
        for choice in request.loras:  # a missing file fails the job, as with the real engine
            lora_path(self.loras_dir, choice.name)
        if "raise:" in request.prompt:  # lets tests script a crash inside one job
            raise RuntimeError(request.prompt.split("raise:", 1)[1].strip() or "scripted failure")
        last = images[-1].size if images else (1, 1)  # text alone: a square, as the real pipeline draws it
        size = output_size or (last if request.keep_input_size and images else self._size_for(last))
        if region is not None:  # a region's result is image 1's size, for the caller to composite
            size = images[0].size
        with self._edit_lock:
            total = request.num_inference_steps
            start = _resume_step(checkpoints, seed, total)
            if start:
                self.resumed_from.append(start)
            clock = StepClock(total, start=start)
            rate = PreviewRate()
            for index in range(start, total):
                try:
                    if should_cancel is not None and should_cancel():
                        raise EditCancelled(f"cancelled before step {index + 1}")
                    if self.gate is not None:
                        self.gate.pass_through(index + 1, should_cancel)
                except EditCancelled:  # stopped after step `index`: saved, as the real engine does
                    if checkpoints is not None:
                        checkpoints.keep(index, total, functools.partial(_fake_latents, seed, index), stopping=True)
                    raise
                with self.gpu.busy():
                    time.sleep(self.step_seconds)
                if checkpoints is not None:
                    checkpoints.keep(index + 1, total, functools.partial(_fake_latents, seed, index + 1))
                if on_step is not None:
                    step = clock.tick(index + 1)
                    if self.previews and rate.due():
                        share = (index + 1) / request.num_inference_steps
                        step = replace(step, preview=encode_preview(_forming(size, share)))
                    on_step(step)
            with self.gpu.busy():  # the real engine's VAE decode
                image = photo_like(size, seed, request.prompt)
                if self.capabilities.alpha:  # 2.1's VAE decodes alpha: the fake carries an input's
                    image = with_alpha_of(image, images)
            self.edits_run += 1
            return EditResult(image, seed, time.perf_counter() - clock.started)

    def _size_for(self, last_input: tuple[int, int]) -> tuple[int, int]:
        if self.output_size is not None:
            return self.output_size
        return model_size(last_input[0] / last_input[1], self.output_pixels)


def _fake_latents(seed: int, step: int) -> bytes:
    """The fake model's state after `step`: what a checkpoint of it holds (the real engine's: its latents)."""
    return f"fake-latents seed={seed} step={step}".encode()


def _resume_step(checkpoints: Checkpointing | None, seed: int, total: int) -> int:
    """The step to continue after, as the real engine decides: 0 unless the checkpoint fits this edit."""
    if checkpoints is None or (start := checkpoints.start_step(total)) == 0:
        return 0
    assert checkpoints.resume_from is not None, "start_step is 0 without one"
    return start if checkpoints.resume_from.latents == _fake_latents(seed, start) else 0


def model_size(aspect_ratio: float, area: int) -> tuple[int, int]:
    """The size the Qwen-Image-Edit pipelines choose: `area` at the aspect, sides multiples of 32 (>= 32)."""
    width = math.sqrt(area * aspect_ratio)
    height = width / aspect_ratio
    return max(32, round(width / 32) * 32), max(32, round(height / 32) * 32)


def photo_like(size: tuple[int, int], seed: int, prompt: str = "") -> Image.Image:
    """A deterministic picture with a photo's structure (smooth light and colour, fine texture), so that
    encoding it costs about what encoding a photo of that size costs; tinted per seed and prompt."""
    digest = hashlib.sha256(f"{seed}:{prompt}".encode()).digest()
    tint = np.frombuffer(digest[:3], dtype=np.uint8) & 0x3F
    return Image.fromarray(np.bitwise_xor(_base_photo(size), tint), "RGB")


def with_alpha_of(image: Image.Image, inputs: Sequence[Image.Image]) -> Image.Image:
    """`image` as RGBA with the alpha of image 1 (else of the last image) resized to it, as a model that reads
    and writes alpha keeps a cut-out's shape; unchanged when neither has alpha (and for text alone)."""
    source = next((each for each in (*inputs[:1], *inputs[-1:]) if each.mode in ("RGBA", "LA")), None)
    if source is None:
        return image
    alpha = source.getchannel("A")
    rgba = image.convert("RGBA")
    rgba.putalpha(alpha if alpha.size == image.size else alpha.resize(image.size, Image.Resampling.BILINEAR))
    return rgba


@functools.lru_cache(maxsize=4)
def _base_photo(size: tuple[int, int]) -> np.ndarray:
    width, height = size
    rng = np.random.default_rng(width * 100_003 + height)
    light = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)
    texture = Image.fromarray(
        rng.integers(0, 256, (max(1, height // 16), max(1, width // 16), 3), dtype=np.uint8)
    ).resize(size, Image.Resampling.BILINEAR)
    pixels = np.asarray(light, dtype=np.uint16) * 3 // 4 + np.asarray(texture, dtype=np.uint16) // 4
    array = pixels.astype(np.uint8)
    array.setflags(write=False)
    return array


@functools.lru_cache(maxsize=4)
def _small_photo(size: tuple[int, int]) -> np.ndarray:
    small = Image.fromarray(_base_photo(size), "RGB")
    small.thumbnail((MAX_SIDE // 2, MAX_SIDE // 2), Image.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.float32)


def _forming(size: tuple[int, int], share: float) -> np.ndarray:
    """What a preview `share` of the way through shows: the result emerging from grey."""
    return (128 * (1 - share) + _small_photo(size) * share).astype(np.uint8)
