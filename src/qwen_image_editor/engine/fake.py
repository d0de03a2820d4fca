"""A fake engine with the real interface: sleeps a fixed time per step and returns a solid image.

For testing the queue, the worker and the API quickly and deterministically; never used for real edits.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.base import CancelCheck, EditResult, ModelState, StepCallback, StepClock
from qwen_image_editor.engine.loading import LoadOnce
from qwen_image_editor.engine.loras import LoraInfo, list_loras, lora_path
from qwen_image_editor.engine.validation import validate_images
from qwen_image_editor.errors import EditCancelled, ModelUnavailable


class FakeEngine:
    """Behaves like DiffusersEngine from the outside. `fail_prompts` lets tests script failures."""

    def __init__(
        self,
        step_seconds: float = 0.01,
        load_seconds: float = 0.0,
        *,
        fail_load: bool = False,
        output_size: tuple[int, int] = (64, 64),
        loras_dir: Path | None = None,
    ) -> None:
        self.step_seconds = step_seconds
        self.loras_dir = loras_dir
        self.load_seconds = load_seconds
        self.fail_load = fail_load
        self.output_size = output_size
        self.edits_run = 0
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

    def _load(self) -> None:
        time.sleep(self.load_seconds)
        if self.fail_load:
            raise ModelUnavailable("the fake model is set to fail loading")

    def edit(
        self,
        images: Sequence[Image.Image],
        request: EditRequest,
        on_step: StepCallback | None = None,
        should_cancel: CancelCheck | None = None,
        output_size: tuple[int, int] | None = None,
    ) -> EditResult:
        validate_images(images)
        seed = request.seed_or_random()
        self.load()
        for choice in request.loras:  # a missing file fails the job, as with the real engine
            lora_path(self.loras_dir, choice.name)
        if "raise:" in request.prompt:  # lets tests script a crash inside one job
            raise RuntimeError(request.prompt.split("raise:", 1)[1].strip() or "scripted failure")
        with self._edit_lock:
            clock = StepClock(request.num_inference_steps)
            for index in range(request.num_inference_steps):
                if should_cancel is not None and should_cancel():
                    raise EditCancelled(f"cancelled before step {index + 1}")
                time.sleep(self.step_seconds)
                if on_step is not None:
                    on_step(clock.tick(index + 1))
            self.edits_run += 1
            digest = hashlib.sha256(f"{seed}:{request.prompt}".encode()).digest()
            size = output_size or (images[-1].size if request.keep_input_size else self.output_size)
            return EditResult(Image.new("RGB", size, tuple(digest[:3])), seed, time.perf_counter() - clock.started)
