"""The edit request (the `config` JSON of `POST /api/edit`) and its limits, shared by engine, API and UI."""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_IMAGES = 3
MAX_PROMPT_CHARS = 2000
MAX_NEGATIVE_PROMPT_CHARS = 2000
MIN_STEPS = 2  # one step of the stock flow-matching scheduler gives NaN (a black image)
MAX_STEPS = 150
DEFAULT_STEPS = 50
MIN_CFG = 1.0
MAX_CFG = 20.0
DEFAULT_CFG = 4.0
MAX_SEED = 2**32 - 1  # fits a JavaScript number exactly, so the UI can show and reuse it


class OutputFormat(StrEnum):
    """Encodings we write results in."""

    PNG = "png"  # lossless, the default
    JPEG = "jpeg"  # small, lossy, no alpha
    WEBP = "webp"  # small, lossy at high quality

    @property
    def media_type(self) -> str:
        return f"image/{self.value}"

    @property
    def extension(self) -> str:
        return "jpg" if self is OutputFormat.JPEG else self.value


Prompt = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_PROMPT_CHARS)]


class EditRequest(BaseModel):
    """What to do with the input images. Field limits here are the only copy of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: Prompt = Field(description="The edit instruction, e.g. 'make the sky stormy'.")
    negative_prompt: str = Field(
        default=" ",
        max_length=MAX_NEGATIVE_PROMPT_CHARS,
        description="What to steer away from. Empty means ' ': the pipelines run true CFG only with a "
        "negative prompt, and guidance is switched by `true_cfg_scale` alone (1 = off).",
    )
    true_cfg_scale: float = Field(
        default=DEFAULT_CFG,
        ge=MIN_CFG,
        le=MAX_CFG,
        description="True classifier-free guidance; 1 turns it off (half the work per step).",
    )
    num_inference_steps: int = Field(default=DEFAULT_STEPS, ge=MIN_STEPS, le=MAX_STEPS, description="Denoising steps.")
    seed: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SEED,
        description="Same seed, same inputs, same settings: same pixels. Chosen and reported when absent.",
    )
    output_format: OutputFormat = Field(default=OutputFormat.PNG, description="Encoding of the result.")
    keep_input_size: bool = Field(
        default=False,
        description="Return the result at the exact size of the last input image "
        "instead of the model's ~1 megapixel size.",
    )

    @field_validator("negative_prompt")
    @classmethod
    def _blank_means_space(cls, value: str) -> str:
        return value if value.strip() else " "

    def with_seed(self, seed: int) -> EditRequest:
        return self.model_copy(update={"seed": seed})

    def seed_or_random(self) -> int:
        """The given seed, or a fresh random one (reported with the result so it can be reused)."""
        return self.seed if self.seed is not None else secrets.randbelow(MAX_SEED + 1)


MIN_IMAGE_SIDE = 16  # smaller inputs carry too little for the model's 16-pixel latent patches
MAX_ASPECT_RATIO = 8.0  # beyond this the ~1 MP output would be a sliver a few patches wide
