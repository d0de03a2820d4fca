"""The real engine: a Qwen-Image-Edit diffusers pipeline, loaded once, running one edit at a time."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from PIL import Image

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.base import CancelCheck, EditResult, ModelState, StepCallback, StepClock
from qwen_image_editor.engine.devices import DevicePlan
from qwen_image_editor.engine.hub_files import resolve_file
from qwen_image_editor.engine.lightning import LORA_FILES, ensure_tiny_lightning_lora, lightning_scheduler, variant_of
from qwen_image_editor.engine.loading import LoadOnce
from qwen_image_editor.engine.loras import Adapters, LoraInfo, list_loras, lora_path
from qwen_image_editor.engine.memory import PlanChoice
from qwen_image_editor.engine.models import ModelSource, ModelSourceKind, ensure_tiny_model
from qwen_image_editor.engine.placement import MemoryOptions, apply_speed_switches, load_kwargs, place, resolve_plan
from qwen_image_editor.engine.preview import LatentPreviewer
from qwen_image_editor.engine.validation import validate_images
from qwen_image_editor.errors import EditCancelled, ModelUnavailable, OutOfMemory
from qwen_image_editor.imaging import side_by_side

log = logging.getLogger(__name__)

# The area the Qwen-Image-Edit pipelines aim their output at (~1 megapixel).
MODEL_TARGET_AREA = 1024 * 1024


class PipelineFamily(StrEnum):
    EDIT = "edit"  # QwenImageEditPipeline: one image in; several are placed side by side
    EDIT_PLUS = "edit-plus"  # QwenImageEditPlusPipeline (2509, 2511): a list of 1-3 reference images


_FAMILY_BY_CLASS = {
    "QwenImageEditPipeline": PipelineFamily.EDIT,
    "QwenImageEditPlusPipeline": PipelineFamily.EDIT_PLUS,
}


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

    def _load_pipeline(self) -> tuple[Any, PipelineFamily]:
        from diffusers import DiffusionPipeline
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        # Their per-file progress bars would interleave with ours and with server logs.
        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()
        location = self._locate_weights()
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
            raise ModelUnavailable(self._explain_load_failure(exc)) from exc
        family = _FAMILY_BY_CLASS.get(type(pipeline).__name__)
        if family is None:
            raise ModelUnavailable(
                f"{self.model_id} is a {type(pipeline).__name__}, not a Qwen-Image-Edit pipeline; "
                f"use one of {', '.join(_FAMILY_BY_CLASS)}"
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

    def _locate_weights(self) -> str:
        if self._source.kind is ModelSourceKind.TINY:
            return str(ensure_tiny_model(self._source))
        if self._source.kind is ModelSourceKind.LOCAL:
            folder = Path(self._source.location)
            if not (folder / "model_index.json").is_file():
                raise ModelUnavailable(
                    f"{folder} is not a diffusers model folder (no model_index.json). Point --model at a "
                    "folder saved with save_pretrained, a Hugging Face id, or `tiny`."
                )
        return self._source.location

    def _explain_load_failure(self, exc: Exception) -> str:
        if self._source.kind is not ModelSourceKind.HUB:
            return f"loading {self.model_id} from {self._source.location} failed: {exc}"
        from huggingface_hub import constants

        cache = self._cache_dir or Path(constants.HF_HUB_CACHE)
        return (
            f"The weights of {self.model_id} are not in the Hugging Face cache ({cache}) and could not be "
            f"downloaded ({type(exc).__name__}). Fix: on a machine with internet access run "
            f"`hf download {self.model_id}` with HF_HOME pointing at this cache, or set QIE_MODEL / --model "
            "to a local diffusers folder, or use --model tiny for the random-weight demo."
        )

    # -- editing --------------------------------------------------------------------------------
    def fit_inputs(self, images: Sequence[Image.Image]) -> list[Image.Image]:
        """RGB, and for EditPlus each image at the size its VAE encodes: the resize the pipeline would do itself
        (with its own image processor), done ahead so that it is off the model's path. An image is left whole
        where the fitted one would change any size the pipeline derives from it (see `_vae_fit`)."""
        rgb = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
        if self._family is not PipelineFamily.EDIT_PLUS:  # not loaded yet, or one side-by-side input
            return rgb
        processor = self._pipeline.image_processor
        fitted = []
        for image in rgb:
            size = _vae_fit(image.size)
            fitted.append(image if size is None else processor.resize(image, size[1], size[0]))
        return fitted

    def edit(
        self,
        images: Sequence[Image.Image],
        request: EditRequest,
        on_step: StepCallback | None = None,
        should_cancel: CancelCheck | None = None,
        output_size: tuple[int, int] | None = None,
    ) -> EditResult:
        # 1. Check inputs before any model work.
        validate_images(images)
        seed = request.seed_or_random()
        if should_cancel and should_cancel():
            raise EditCancelled("cancelled before the edit started")
        # 2. Load (once) and take the pipeline for this call alone.
        self.load()
        with self._edit_lock:
            return self._run(images, request, seed, on_step, should_cancel, output_size)

    def _run(
        self,
        images: Sequence[Image.Image],
        request: EditRequest,
        seed: int,
        on_step: StepCallback | None,
        should_cancel: CancelCheck | None,
        output_size: tuple[int, int] | None,
    ) -> EditResult:
        import torch

        # 3. Shape the inputs for the family: EditPlus takes a list (each at its VAE size), the original Edit one
        #    picture. An exact size is taken from the last image before it is fitted.
        exact_size = output_size or (images[-1].size if request.keep_input_size else None)
        rgb = self.fit_inputs(images)
        model_input: Any = (
            rgb if self._family is PipelineFamily.EDIT_PLUS else (rgb[0] if len(rgb) == 1 else side_by_side(rgb))
        )
        # 4. The output follows the last image's aspect (EditPlus does so natively; for a side-by-side
        #    Edit input and for exact-size output we ask for it explicitly, so nothing is stretched).
        aspect_of = exact_size or rgb[-1].size
        size_kwargs: dict[str, int] = {}
        if exact_size or (self._family is PipelineFamily.EDIT and len(rgb) > 1):
            width, height = self._model_output_size(aspect_of[0] / aspect_of[1])
            size_kwargs = {"width": width, "height": height}

        clock = StepClock(request.num_inference_steps)
        previewer = LatentPreviewer(aspect_of[0] / aspect_of[1]) if self.previews and on_step else None

        def step_end(pipe: Any, index: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if on_step is not None:
                step = clock.tick(index + 1)
                if previewer is not None:
                    step = previewer.attach(step, index, tensors.get("latents"), pipe.scheduler)
                on_step(step)
            # Raising here aborts at once (no VAE decode) and leaves the pipeline usable.
            if should_cancel is not None and should_cancel():
                raise EditCancelled(f"cancelled after step {index + 1} of {request.num_inference_steps}")
            return tensors

        # 5. This job's adapters and scheduler (Lightning, LoRAs), switched on the loaded base model.
        self._switch_for(request)
        try:
            output = self._pipeline(
                image=model_input,
                prompt=request.prompt,
                # Without guidance the negative prompt is unused; passing it makes diffusers warn on every job.
                negative_prompt=request.negative_prompt if request.true_cfg_scale > 1 else None,
                true_cfg_scale=request.true_cfg_scale,
                num_inference_steps=request.num_inference_steps,
                generator=torch.Generator(device="cpu").manual_seed(seed),
                callback_on_step_end=step_end,
                **size_kwargs,
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
        result: Image.Image = output.images[0]
        if exact_size and result.size != exact_size:
            result = result.resize(exact_size, Image.Resampling.LANCZOS)
        return EditResult(image=result, seed=seed, seconds=time.perf_counter() - clock.started)

    def _switch_for(self, request: EditRequest) -> None:
        """Exactly the adapters this job names (none: the bare base model) and its scheduler."""
        weights: dict[str, float] = {}
        if request.lightning:
            steps = request.num_inference_steps
            weights[self._adapters.ensure(self._pipeline, f"lightning-{steps}steps", self._lightning_file(steps))] = 1.0
        for choice in request.loras:
            path = lora_path(self._loras_dir, choice.name)
            weights[self._adapters.ensure(self._pipeline, choice.name, path)] = choice.weight
        self._adapters.activate(self._pipeline, weights)
        if request.lightning:
            self._lightning_scheduler = self._lightning_scheduler or lightning_scheduler()
            self._pipeline.scheduler = self._lightning_scheduler

    def _lightning_file(self, steps: int) -> Path:
        if self._lightning_lora:
            return resolve_file(self._lightning_lora, self._cache_dir, what="Lightning LoRA (QIE_LIGHTNING_LORA)")
        if self.is_demo:  # the tiny model's own, built offline beside it
            return ensure_tiny_lightning_lora(Path(self._source.location), steps, self._pipeline.transformer)
        reference = LORA_FILES[(variant_of(self._pipeline), steps)]
        return resolve_file(reference, self._cache_dir, what=f"Lightning LoRA of {self.model_id}")

    def _plan_name(self) -> str:
        return str(self._memory_choice.plan) if self._memory_choice else str(self._memory.plan)

    def _model_output_size(self, aspect_ratio: float) -> tuple[int, int]:
        """The ~1 MP size the pipeline itself would choose for this aspect ratio."""
        from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit, pipeline_qwenimage_edit_plus

        module = pipeline_qwenimage_edit_plus if self._family is PipelineFamily.EDIT_PLUS else pipeline_qwenimage_edit
        width, height = module.calculate_dimensions(MODEL_TARGET_AREA, aspect_ratio)[:2]
        return int(width), int(height)

    def _free_device_memory(self) -> None:
        import torch

        if self.device == "cuda":
            with contextlib.suppress(Exception):
                torch.cuda.empty_cache()


def _vae_fit(size: tuple[int, int]) -> tuple[int, int] | None:
    """The size EditPlus resizes an image of `size` to for its VAE, when resizing to it first changes nothing the
    pipeline computes from the image (its VAE, condition and output sizes all follow the aspect ratio, and the
    fitted one's is rounded); None when the image is that size already or fitting would change one of them."""
    from diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus import (
        CONDITION_IMAGE_SIZE,
        VAE_IMAGE_SIZE,
        calculate_dimensions,
    )

    width, height = size
    fitted = calculate_dimensions(VAE_IMAGE_SIZE, width / height)
    if fitted == size:
        return None
    same = all(
        calculate_dimensions(area, fitted[0] / fitted[1]) == calculate_dimensions(area, width / height)
        for area in (VAE_IMAGE_SIZE, CONDITION_IMAGE_SIZE, MODEL_TARGET_AREA)
    )
    return (int(fitted[0]), int(fitted[1])) if same else None
