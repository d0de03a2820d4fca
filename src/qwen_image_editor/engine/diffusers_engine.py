"""The real engine: a Qwen-Image-Edit or Qwen-Image-2.1 diffusers pipeline, loaded once, running one edit at a time.

What differs between the pipeline families lives in `engine.families`."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.base import CancelCheck, EditResult, ModelState, StepCallback, StepClock
from qwen_image_editor.engine.checkpoints import Checkpointing, decode_latents, encode_latents, resumable
from qwen_image_editor.engine.devices import DevicePlan
from qwen_image_editor.engine.families import (
    FAMILY_BY_CLASS,
    PipelineFamily,
    call_inputs,
    check_images,
    fit_inputs,
    full_sigmas,
    output_aspect,
)
from qwen_image_editor.engine.hub_files import resolve_file
from qwen_image_editor.engine.inpainting import (
    MARKS_LATENT_MASK,
    LatentMask,
    check_region,
    family_working_size,
    marks_prompt,
    paint_marks,
)
from qwen_image_editor.engine.lightning import LORA_FILES, ensure_tiny_lightning_lora, lightning_scheduler, variant_of
from qwen_image_editor.engine.loading import LoadOnce
from qwen_image_editor.engine.loras import Adapters, LoraInfo, list_loras, lora_path
from qwen_image_editor.engine.memory import PlanChoice
from qwen_image_editor.engine.models import ModelSource
from qwen_image_editor.engine.placement import MemoryOptions, apply_speed_switches, load_kwargs, place, resolve_plan
from qwen_image_editor.engine.preview import LatentPreviewer
from qwen_image_editor.engine.weights import explain_load_failure, family_on_disk, locate_weights
from qwen_image_editor.errors import EditCancelled, ModelUnavailable, OutOfMemory

__all__ = ["DiffusersEngine", "PipelineFamily"]

log = logging.getLogger(__name__)


class DiffusersEngine:
    """Loads `DiffusionPipeline.from_pretrained(source)` lazily and runs edits through it.

    Thread-safe: loading happens once (other callers wait for it) and edits are serialised, because a
    diffusers pipeline keeps per-call state on itself.
    """

    def __init__(
        self,
        source: ModelSource,
        device_plan: DevicePlan,
        *,
        memory: MemoryOptions = MemoryOptions(),
        lightning_lora: str | None = None,
        loras_dir: Path | None = None,
        cache_dir: Path | None = None,
        previews: bool = True,
    ) -> None:
        self.previews = previews  # live previews from the latents, on the step callback (engine.preview)
        self._source = source
        self._plan = device_plan
        self._memory = memory
        self._memory_choice: PlanChoice | None = None
        self._lightning_lora = lightning_lora  # QIE_LIGHTNING_LORA: instead of the family's own
        self._lightning_files: dict[int, Path | ModelUnavailable] = {}  # by step count, fetched at load
        self._loras_dir = loras_dir
        self._adapters = Adapters(compute_dtype=device_plan.dtype_name)
        self._base_scheduler: Any = None
        self._lightning_scheduler: Any = None
        self._cache_dir = cache_dir
        self._pipeline: Any = None
        self._family: PipelineFamily | None = None
        self._loading = LoadOnce(source.name)
        self._edit_lock = threading.Lock()

    # -- what callers can read at any time -------------------------------------------------------
    @property
    def model_id(self) -> str:
        return self._source.name

    @property
    def device(self) -> str:
        return self._plan.device

    @property
    def is_demo(self) -> bool:
        return self._source.is_demo

    @property
    def state(self) -> ModelState:
        return self._loading.state

    @property
    def load_error(self) -> str | None:
        return self._loading.error

    @property
    def family(self) -> PipelineFamily | None:
        return self._family

    @property
    def memory_plan(self) -> PlanChoice | None:
        """The memory plan in use and why; None until the model has loaded."""
        return self._memory_choice

    def loras(self) -> list[LoraInfo]:
        """The LoRA files a job may name; whether each fits is known once the model has loaded."""
        return list_loras(self._loras_dir, self._pipeline if self.state is ModelState.READY else None)

    # -- loading --------------------------------------------------------------------------------
    def load(self) -> None:
        self._loading.run(self._load)

    def _load(self) -> None:
        self._pipeline, self._family = self._load_pipeline()
        self._lightning_files = self._fetch_lightning_files(self._family)

    def _fetch_lightning_files(self, family: PipelineFamily) -> dict[int, Path | ModelUnavailable]:
        """The Lightning LoRAs, fetched (into the Hugging Face cache) as the model loads: the operator's settings
        may make the service download, a job never does. One that cannot be had fails only the jobs that ask
        for it, with the reason; the tiny model builds its own offline, on first use."""
        if not family.has_lightning or (self.is_demo and not self._lightning_lora):
            return {}
        files: dict[int, Path | ModelUnavailable] = {}
        for steps in family.capabilities.fast.steps:
            try:
                files[steps] = self._resolve_lightning_file(steps)
            except ModelUnavailable as exc:
                log.warning("the %d-step Lightning LoRA is unavailable: %s", steps, exc)
                files[steps] = exc
        return files

    def _load_pipeline(self) -> tuple[Any, PipelineFamily]:
        from diffusers import DiffusionPipeline
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        # Their per-file progress bars would interleave with ours and with server logs.
        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()
        location = locate_weights(self._source)
        started = time.perf_counter()
        choice = resolve_plan(self._memory, self._plan, self._source, self._cache_dir)
        extra = load_kwargs(choice.plan, self._memory, self._plan, location, self._cache_dir)
        try:
            pipeline = DiffusionPipeline.from_pretrained(
                location,
                dtype=self._plan.dtype,
                use_safetensors=True,  # never unpickle weights
                cache_dir=self._cache_dir,
                **extra,
            )
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(explain_load_failure(self._source, self._cache_dir, exc)) from exc
        family = FAMILY_BY_CLASS.get(type(pipeline).__name__)
        if family is None:
            raise ModelUnavailable(
                f"{self.model_id} is a {type(pipeline).__name__}, not a pipeline this engine runs; "
                f"use one of {', '.join(FAMILY_BY_CLASS)}"
            )
        pipeline.set_progress_bar_config(disable=True)
        place(pipeline, choice.plan, self._plan)
        apply_speed_switches(pipeline, self._memory, self._plan)
        self._memory_choice, self._base_scheduler = choice, pipeline.scheduler
        log.info(
            "loaded %s (%s) on %s in %.1fs; memory plan %s: %s",
            self.model_id,
            family,
            self.device,
            time.perf_counter() - started,
            choice.plan,
            choice.reason,
        )
        return pipeline, family

    def _family_before_load(self) -> PipelineFamily | None:
        """The family model_index.json names, where that file is on disk already (no weights, no download)."""
        return self._family if self._family is not None else family_on_disk(self._source, self._cache_dir)

    # -- editing --------------------------------------------------------------------------------
    def fit_inputs(self, images: Sequence[Image.Image]) -> list[Image.Image]:
        """The images in the mode the family takes (RGB; 2.1 keeps alpha), and for a loaded EditPlus each at the
        size its VAE encodes, resized ahead so that it is off the model's path (`families.fit_inputs`)."""
        return fit_inputs(self._family_before_load(), self._pipeline, images)

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
        # 1. Check inputs before any model work (the image count once the family is known: see check_images).
        family = self._family_before_load()
        check_images(family, images)
        check_region(images, region)
        seed = request.seed_or_random()
        if should_cancel and should_cancel():
            raise EditCancelled("cancelled before the edit started")
        # 2. Load (once) and take the pipeline for this call alone.
        self.load()
        if family is None:
            check_images(self._family, images)
        with self._edit_lock:
            return self._run(images, request, seed, on_step, should_cancel, output_size, region, checkpoints)

    def _run(
        self,
        images: Sequence[Image.Image],
        request: EditRequest,
        seed: int,
        on_step: StepCallback | None,
        should_cancel: CancelCheck | None,
        output_size: tuple[int, int] | None,
        region: Image.Image | None = None,
        checkpoints: Checkpointing | None = None,
    ) -> EditResult:
        import torch

        family = self._family
        assert family is not None, "loaded"
        # 3. Shape the inputs for the family (families.call_inputs: its images, and its size where the pipeline's
        #    own would not do). An exact size is taken from the last image before it is fitted; with a region it is
        #    image 1's, which the model draws at its own aspect ratio (engine.inpainting.working_size).
        exact_size = output_size or (images[-1].size if request.keep_input_size and images else None)
        prompt = request.prompt
        fitted = self.fit_inputs(images)
        if region is not None:
            exact_size = images[0].size
            if family.region_approach == MARKS_LATENT_MASK:  # 2.1: marks on image 1, named in the prompt
                fitted[0], prompt = paint_marks(fitted[0], region), marks_prompt(prompt)
        family_inputs = call_inputs(family, self._pipeline, fitted, exact_size, request.num_inference_steps)
        held: LatentMask | None = None
        if region is not None:
            size = family_working_size(
                images[0].size, family.capabilities.size_multiple, family.capabilities.native_pixels
            )
            family_inputs["width"], family_inputs["height"] = size
            held = LatentMask.prepare(self._pipeline, images[0], region, size, seed, mode=family.region_mode)
            family_inputs["latents"] = held.noise

        # 4. This job's adapters and scheduler (Lightning, LoRAs), switched on the loaded base model; then where the
        #    run starts: after the steps a checkpoint saved, when the scheduler can continue from one.
        self._switch_for(request, lightning=request.lightning and family.has_lightning)
        total = request.num_inference_steps
        checkpoints = checkpoints if checkpoints is not None and resumable(self._pipeline.scheduler) else None
        start = checkpoints.start_step(total) if checkpoints is not None else 0
        if checkpoints is not None and start:
            resume = checkpoints.resume_from
            assert resume is not None, "start_step is 0 without one"
            try:
                family_inputs["latents"] = decode_latents(resume.latents)
            except ValueError:  # damaged: the run starts over, as without one
                log.warning("an edit's checkpoint is unreadable; the edit starts from step 1", exc_info=True)
                start = 0
            else:
                family_inputs["sigmas"] = full_sigmas(family, self._pipeline, total)[start:]
                log.info("continuing an edit from its checkpoint after step %d of %d", start, total)

        # 5. Progress (and previews, where the family's latents have them) from the step callback; steps count from
        #    the run's first (start + 1), the pipeline's `index` from 0 in this call.
        clock = StepClock(total, start=start)
        aspect = output_aspect(fitted, exact_size)
        previewer = LatentPreviewer(aspect) if self.previews and family.has_previews and on_step else None

        def step_end(pipe: Any, index: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if held is not None:  # outside the region, back on image 1's latents (engine.inpainting)
                tensors["latents"] = held.hold(pipe, index, tensors["latents"])
            done = start + index + 1
            state = functools.partial(encode_latents, tensors["latents"])
            if checkpoints is not None:
                checkpoints.keep(done, total, state)
            if on_step is not None:
                step = clock.tick(done)
                if previewer is not None:
                    step = previewer.attach(step, index, tensors.get("latents"), pipe.scheduler)
                on_step(step)
            # Raising here aborts at once (no VAE decode) and leaves the pipeline usable.
            if should_cancel is not None and should_cancel():
                if checkpoints is not None:
                    checkpoints.keep(done, total, state, stopping=True)
                raise EditCancelled(f"cancelled after step {done} of {total}")
            return tensors

        try:
            output = self._pipeline(
                prompt=prompt,
                # Without guidance the negative prompt is unused; passing it makes diffusers warn on every job.
                negative_prompt=request.negative_prompt if request.true_cfg_scale > 1 else None,
                true_cfg_scale=request.true_cfg_scale,
                num_inference_steps=request.num_inference_steps,
                generator=torch.Generator(device="cpu").manual_seed(seed),
                callback_on_step_end=step_end,
                **family_inputs,
            )
        except torch.OutOfMemoryError as exc:
            self._free_device_memory()
            raise OutOfMemory(
                f"the {self.device} ran out of memory during this edit. Use fewer or smaller input images, "
                f"or choose a memory plan that keeps less on the GPU than {self._plan_name()} (QIE_MEMORY=fp8, "
                "gguf, nf4 or low; `qie doctor` estimates each)."
            ) from exc
        finally:
            self._pipeline.scheduler = self._base_scheduler
        result: Image.Image = output.images[0]  # RGBA where the VAE decodes alpha (2.1): kept
        if exact_size and result.size != exact_size:
            result = result.resize(exact_size, Image.Resampling.LANCZOS)
        seconds = time.perf_counter() - clock.started
        approach = family.region_approach if region is not None else None
        return EditResult(image=result, seed=seed, seconds=seconds, region_approach=approach)

    def _switch_for(self, request: EditRequest, *, lightning: bool) -> None:
        """Exactly the adapters this job names (none: the bare base model) and its scheduler. Without a Lightning
        LoRA for the family (2.1), a `lightning` request is the base model at the request's few steps."""
        weights: dict[str, float] = {}
        if lightning:
            steps = request.num_inference_steps
            weights[self._adapters.ensure(self._pipeline, f"lightning-{steps}steps", self._lightning_file(steps))] = 1.0
        for choice in request.loras:
            path = lora_path(self._loras_dir, choice.name)
            weights[self._adapters.ensure(self._pipeline, choice.name, path)] = choice.weight
        self._adapters.activate(self._pipeline, weights)
        if lightning:
            self._lightning_scheduler = self._lightning_scheduler or lightning_scheduler()
            self._pipeline.scheduler = self._lightning_scheduler

    def _lightning_file(self, steps: int) -> Path:
        found = self._lightning_files.get(steps)
        if isinstance(found, ModelUnavailable):
            raise found
        if found is not None:
            return found
        if self.is_demo:  # the tiny model's own, built offline beside it
            return ensure_tiny_lightning_lora(Path(self._source.location), steps, self._pipeline.transformer)
        raise ModelUnavailable(f"no {steps}-step Lightning LoRA for {self.model_id}")  # requests ask for known ones

    def _resolve_lightning_file(self, steps: int) -> Path:
        if self._lightning_lora:
            return resolve_file(self._lightning_lora, self._cache_dir, what="Lightning LoRA (QIE_LIGHTNING_LORA)")
        reference = LORA_FILES[(variant_of(self._pipeline), steps)]
        return resolve_file(reference, self._cache_dir, what=f"Lightning LoRA of {self.model_id}")

    def _plan_name(self) -> str:
        return str(self._memory_choice.plan) if self._memory_choice else str(self._memory.plan)

    def _free_device_memory(self) -> None:
        import torch

        if self.device == "cuda":
            with contextlib.suppress(Exception):
                torch.cuda.empty_cache()
