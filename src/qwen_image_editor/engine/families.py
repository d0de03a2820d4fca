"""What differs between the pipeline families, in one place: how many images each takes, how they are shaped for
it, and the family's own arguments to the pipeline call. The engine asks here and never tests the family itself.

The call they share (prompt, guidance, steps, generator, step callback) is the engine's: all three pipelines
name it the same, and run one transformer pass per step unless `true_cfg_scale > 1` with a negative prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from PIL import Image

from qwen_image_editor.engine.inpainting import LATENT_MASK, MARKS_LATENT_MASK
from qwen_image_editor.engine.validation import validate_images, validate_sizes
from qwen_image_editor.errors import InvalidRequest
from qwen_image_editor.model_families import FAMILIES, LIGHTNING, MOST_IMAGES, Capabilities, ModelFamily

# The area the Qwen-Image-Edit pipelines aim their output at (~1 megapixel).
MODEL_TARGET_AREA = 1024 * 1024
# Qwen-Image-2.1's `output_resolution`: its output (and each reference) is this squared in area, in the last
# reference's aspect, in multiples of 32. Its published default; read at call time, so tests may lower it.
QWEN_IMAGE_21_RESOLUTION = 1024


class PipelineFamily(StrEnum):
    EDIT = "edit"  # QwenImageEditPipeline: one image
    EDIT_PLUS = "edit-plus"  # QwenImageEditPlusPipeline (2509, 2511): a list of 1-3 reference images
    QWEN_IMAGE_21 = "2.1"  # QwenImage21Pipeline: text alone or 1-10 references, RGBA in and out, prefix KV cache

    @property
    def capabilities(self) -> Capabilities:
        """What requests may ask of it (2509 and 2511 take the same)."""
        return FAMILIES[_MODEL_FAMILY[self]]

    @property
    def has_previews(self) -> bool:
        """Whether engine.preview's Wan-2.1 colour factors fit its latents (16 channels, packed 2x2). 2.1's are
        64 RGBA channels of another VAE: it goes without live previews rather than show made-up colours."""
        return self.capabilities.no_previews_because is None

    @property
    def has_lightning(self) -> bool:
        """Whether lightx2v publishes Lightning LoRAs for it (engine.lightning); without, a `lightning` request
        runs the base model at its few steps."""
        return self.capabilities.fast is LIGHTNING

    @property
    def region_approach(self) -> str:
        """How a region edit is kept to its region (engine.inpainting). All hold the latents outside on image 1's;
        2.1 also gets marks painted on image 1 with the prompt naming them, its published local-edit input. Marks
        rather than the mask as an extra reference: they point at the region in image 1 itself, where the model
        looks, take none of its reference slots, and are what the page draws for 2.1 (issue 20, point 6)."""
        return MARKS_LATENT_MASK if self is PipelineFamily.QWEN_IMAGE_21 else LATENT_MASK

    @property
    def region_mode(self) -> str:
        """The mode image 1 is VAE-encoded in for a region edit: 2.1's VAE encodes RGBA, the Edit models' RGB."""
        return "RGBA" if self is PipelineFamily.QWEN_IMAGE_21 else "RGB"


_MODEL_FAMILY = {
    PipelineFamily.EDIT: ModelFamily.EDIT,
    PipelineFamily.EDIT_PLUS: ModelFamily.EDIT_2511,
    PipelineFamily.QWEN_IMAGE_21: ModelFamily.IMAGE_21,
}


FAMILY_BY_CLASS = {
    "QwenImageEditPipeline": PipelineFamily.EDIT,
    "QwenImageEditPlusPipeline": PipelineFamily.EDIT_PLUS,
    "QwenImage21Pipeline": PipelineFamily.QWEN_IMAGE_21,
}


def check_images(family: PipelineFamily | None, images: Sequence[Image.Image]) -> None:
    """Refuse images the family cannot take, before any model work. Unknown family (the model is not on disk
    yet): only what no family takes; call again once it has loaded."""
    if family is not None:
        validate_images(images, family.capabilities)
        return
    validate_sizes([image.size for image in images])
    if len(images) > MOST_IMAGES:
        raise InvalidRequest(f"give 0 to {MOST_IMAGES} input images, not {len(images)}")


def fit_inputs(family: PipelineFamily | None, pipeline: Any, images: Sequence[Image.Image]) -> list[Image.Image]:
    """The images in the mode (and for EditPlus at the VAE size) the family takes them; `pipeline` may be None
    before loading. Edit models take RGB; 2.1 keeps an alpha channel (its VAE encodes RGBA)."""
    if family is None:
        return list(images)
    if family is PipelineFamily.QWEN_IMAGE_21:
        return [image if image.mode in ("RGB", "RGBA") else image.convert("RGBA") for image in images]
    rgb = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
    if family is not PipelineFamily.EDIT_PLUS or pipeline is None:
        return rgb
    # EditPlus: the resize the pipeline would do itself (with its own image processor), done ahead so that it is
    # off the model's path. An image is left whole where the fitted one would change any size the pipeline
    # derives from it (see `_vae_fit`).
    fitted = []
    for image in rgb:
        size = _vae_fit(image.size)
        fitted.append(image if size is None else pipeline.image_processor.resize(image, size[1], size[0]))
    return fitted


def output_aspect(images: Sequence[Image.Image], exact_size: tuple[int, int] | None) -> float:
    """Width / height of the result: the exact size asked for, else the last image's, else square (text alone)."""
    width, height = exact_size or (images[-1].size if images else (1, 1))
    return width / height


def call_inputs(
    family: PipelineFamily,
    pipeline: Any,
    images: Sequence[Image.Image],
    exact_size: tuple[int, int] | None,
    steps: int,
) -> dict[str, Any]:
    """The family's own arguments to the pipeline call: its images, and a size where the pipeline's own would not
    do (an exact-size result is drawn at the model's size in that aspect, then resized by the engine)."""
    aspect = output_aspect(images, exact_size)
    if family is PipelineFamily.QWEN_IMAGE_21:
        from diffusers.pipelines.qwenimage21.pipeline_qwenimage21 import calculate_dimensions

        resolution = QWEN_IMAGE_21_RESOLUTION
        inputs: dict[str, Any] = {
            "image": list(images) or None,  # None: text to image (an empty list is an error there)
            "output_resolution": resolution,
            "use_kv_cache": True,  # text and references run once, at the first step; needs causal_condition
        }
        if exact_size:
            inputs["width"], inputs["height"] = (int(side) for side in calculate_dimensions(resolution**2, aspect)[:2])
        sigmas = _step_sigmas(pipeline.config.get("sample_sigmas"), steps)
        if sigmas is not None:
            inputs["sigmas"] = sigmas
        return inputs
    inputs = {"image": list(images) if family is PipelineFamily.EDIT_PLUS else images[0]}
    # The output follows the last image's aspect; for an exact-size output we ask for it explicitly, so nothing
    # is stretched.
    if exact_size:
        inputs["width"], inputs["height"] = model_output_size(family, aspect)
    return inputs


def model_output_size(family: PipelineFamily, aspect_ratio: float) -> tuple[int, int]:
    """The ~1 MP size an Edit pipeline itself would choose for this aspect ratio."""
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit, pipeline_qwenimage_edit_plus

    module = pipeline_qwenimage_edit_plus if family is PipelineFamily.EDIT_PLUS else pipeline_qwenimage_edit
    width, height = module.calculate_dimensions(MODEL_TARGET_AREA, aspect_ratio)[:2]
    return int(width), int(height)


def full_sigmas(family: PipelineFamily, pipeline: Any, steps: int) -> list[float]:
    """The sigmas a call of `steps` steps uses (before the scheduler's shift), as `call_inputs` and the pipelines
    choose them: a resumed call passes their tail (engine.checkpoints)."""
    import numpy as np

    if family is PipelineFamily.QWEN_IMAGE_21:
        configured = pipeline.config.get("sample_sigmas")
        resampled = _step_sigmas(configured, steps)
        if resampled is not None:
            return resampled
        if configured:
            return [float(sigma) for sigma in configured]
    return [float(sigma) for sigma in np.linspace(1.0, 1 / steps, steps)]


def _step_sigmas(configured: Sequence[float] | None, steps: int) -> list[float] | None:
    """2.1 may ship its author's sigmas (model_index.json's `sample_sigmas`), whose length then overrides the step
    count; a job's own count gets that schedule resampled to it, so the steps run are the steps asked for."""
    if not configured or len(configured) == steps:
        return None
    import numpy as np

    grid = np.interp(np.linspace(0.0, 1.0, steps), np.linspace(0.0, 1.0, len(configured)), configured)
    return [float(sigma) for sigma in grid]


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
