"""What each model family can do, stated once: request validation, `/api/limits`, `/api/health`, the page, the
OpenAI routes, `qie edit`, `qie remote` and the Python client all read it from here (the client and the page
through `/api/limits`), so no limit is written twice.

Pure data, below everything, like `edit_request`: an API node knows its model's family from its settings alone,
without loading (or having) the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ModelFamily(StrEnum):
    """The releases whose pipelines differ in what a request may ask."""

    EDIT = "edit"  # Qwen/Qwen-Image-Edit: QwenImageEditPipeline, one image
    EDIT_2509 = "2509"  # Qwen/Qwen-Image-Edit-2509: QwenImageEditPlusPipeline, 1-3 images
    EDIT_2511 = "2511"  # Qwen/Qwen-Image-Edit-2511: EditPlus with the transformer's zero_cond_t
    IMAGE_21 = "2.1"  # Qwen/Qwen-Image-2.1: QwenImage21Pipeline, text alone or 1-10 references, RGBA


@dataclass(frozen=True)
class License:
    id: str  # an SPDX id where there is one
    name: str
    url: str


APACHE_2 = License("Apache-2.0", "Apache License 2.0", "https://www.apache.org/licenses/LICENSE-2.0")
QWEN_RESEARCH = License(
    "LicenseRef-Qwen-Research", "Qwen Research License", "https://huggingface.co/Qwen/Qwen-Image-2.1/blob/main/LICENSE"
)


@dataclass(frozen=True)
class FastPath:
    """The few-step switch (`lightning` in a request): what it runs, exactly."""

    steps: tuple[int, ...]  # the step counts it was made for; any other count becomes `default_steps`
    default_steps: int
    description: str


LIGHTNING = FastPath(
    steps=(4, 8),
    default_steps=8,
    description="the family's Lightning LoRA (lightx2v), 4 or 8 steps, guidance off",
)
# No few-step weights for 2.1 could be confirmed from public references (diffusers' QwenImage21Turbo blocks name
# none): Fast means the base model at 8 steps without guidance, and says so.
FEW_STEPS_21 = FastPath(
    steps=(8,),
    default_steps=8,
    description="the base model at 8 steps, guidance off (no published few-step weights confirmed)",
)


@dataclass(frozen=True)
class Capabilities:
    family: ModelFamily
    name: str  # the release, for people
    min_images: int  # references a request must send (0: it may make an image from text alone)
    max_images: int
    alpha: bool  # transparent inputs keep their alpha and results may have one
    default_steps: int
    default_cfg: float  # `true_cfg_scale`; 1 runs one pass per step
    min_cfg: float
    max_cfg: float
    size_multiple: int  # the pipeline floors width and height to this
    native_pixels: int  # the area it draws at when no size is asked for
    fast: FastPath
    license: License
    # Why the page shows no live preview while this model runs; None when it does. A preview maps the latents to
    # colours with factors fitted to the family's VAE: none are published for 2.1's 64-channel RGBA latents, and
    # made-up colours would mislead.
    no_previews_because: str | None = None

    @property
    def text_to_image(self) -> bool:
        return self.min_images == 0

    def image_count_problem(self, count: int) -> str | None:
        """Why `count` references are refused (naming the limit), or None when they are fine."""
        if self.min_images <= count <= self.max_images:
            return None
        if count == 0:
            return (
                f"{self.name} edits images and cannot make one from text alone: send 1 to {self.max_images} "
                f"image{'s' if self.max_images > 1 else ''}; models that can: {', '.join(text_to_image_models())}"
            )
        if self.min_images == self.max_images:
            return f"{self.name} takes exactly {self.max_images} image, not {count}"
        return f"{self.name} takes {self.min_images} to {self.max_images} images, not {count}"


def _edit_model(family: ModelFamily, name: str, max_images: int) -> Capabilities:
    """The Edit releases differ only in how many images they take."""
    return Capabilities(
        family,
        name,
        min_images=1,
        max_images=max_images,
        alpha=False,
        default_steps=50,
        default_cfg=4.0,
        min_cfg=1.0,
        max_cfg=20.0,
        size_multiple=16,
        native_pixels=1024 * 1024,
        fast=LIGHTNING,
        license=APACHE_2,
    )


FAMILIES: dict[ModelFamily, Capabilities] = {
    ModelFamily.EDIT: _edit_model(ModelFamily.EDIT, "Qwen-Image-Edit", max_images=1),
    ModelFamily.EDIT_2509: _edit_model(ModelFamily.EDIT_2509, "Qwen-Image-Edit-2509", max_images=3),
    ModelFamily.EDIT_2511: _edit_model(ModelFamily.EDIT_2511, "Qwen-Image-Edit-2511", max_images=3),
    # Published defaults: 40 steps without guidance (ComfyUI warns that cfg 5 degrades it badly); sizes in
    # multiples of 32 (16x VAE, unpatched latents).
    ModelFamily.IMAGE_21: Capabilities(
        ModelFamily.IMAGE_21,
        "Qwen-Image-2.1",
        min_images=0,
        max_images=10,
        alpha=True,
        default_steps=40,
        default_cfg=1.0,
        min_cfg=1.0,
        max_cfg=5.0,
        size_multiple=32,
        native_pixels=1024 * 1024,
        fast=FEW_STEPS_21,
        license=QWEN_RESEARCH,
        no_previews_because="Qwen-Image-2.1 has no live preview yet: its 64-channel RGBA latents have no published "
        "colour mapping, and made-up colours would mislead; the result shows when the last step is done",
    ),
}

# The default model's family (Qwen/Qwen-Image-Edit-2511, Apache-2.0), also taken for a model that cannot be told.
DEFAULT_FAMILY = ModelFamily.EDIT_2511

# The most references any family takes: the multipart parsers' hard cap, before the model's own limit.
MOST_IMAGES = max(capabilities.max_images for capabilities in FAMILIES.values())


def text_to_image_models() -> list[str]:
    return [capabilities.name for capabilities in FAMILIES.values() if capabilities.text_to_image]
