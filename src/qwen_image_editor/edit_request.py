"""The edit request (the `config` JSON of `POST /api/edit`) and its limits, shared by engine, API and UI."""

from __future__ import annotations

import math
import re
import secrets
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator, model_validator

from qwen_image_editor.model_families import DEFAULT_FAMILY, FAMILIES, Capabilities

MAX_PROMPT_CHARS = 2000
MAX_NEGATIVE_PROMPT_CHARS = 2000
MIN_STEPS = 2  # one step of the stock flow-matching scheduler gives NaN (a black image)
MAX_STEPS = 150
MIN_CFG = 1.0  # the bounds of every family together; each model's own range is in model_families
MAX_CFG = 20.0
MAX_SEED = 2**32 - 1  # fits a JavaScript number exactly, so the UI can show and reuse it
MAX_OUTPUT_SIDE = 4096  # an exact output size: the model draws at ~1 MP, so larger is only an upscale
MAX_NUM_IMAGES = 4  # variations per job: each is a full edit, so this bounds one job's GPU time
MAX_LORAS = 3
MIN_LORA_WEIGHT = -2.0
MAX_LORA_WEIGHT = 2.0
MAX_WEBHOOK_URL_CHARS = 2048
MAX_MASK_PX = 256  # growing or feathering a region further is a different region: paint it larger instead
LORA_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"  # a file name's stem: no path, no hidden files


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

    @classmethod
    def named(cls, name: str) -> OutputFormat | None:
        """The format a name or file suffix means (`png`, `.JPG`, `jpeg`, ...); None if none."""
        wanted = name.lower().removeprefix(".")
        return next((f for f in cls if wanted in (f.value, f.extension)), None)


Prompt = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_PROMPT_CHARS)]


class LoraChoice(BaseModel):
    """One of the operator's LoRA files, applied to the transformer for this job only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=LORA_NAME_PATTERN,
        description="The file's name in the data folder's `loras/` without `.safetensors`, as the LoRA list shows it.",
    )
    weight: float = Field(
        default=1.0,
        ge=MIN_LORA_WEIGHT,
        le=MAX_LORA_WEIGHT,
        description="How strongly it applies; 0 gives exactly the base model's pixels.",
    )


def _optional_in_clients(schema: dict[str, Any]) -> None:
    """No `default` in the schema, so generated clients may leave the field out (older ones do)."""
    schema.pop("default", None)


def parse_request(fields: object, capabilities: Capabilities) -> EditRequest:
    """A request for the model of `capabilities`: what it leaves out gets that model's defaults, and the
    model's own ranges apply. ValidationError as for `EditRequest.model_validate`."""
    return EditRequest.model_validate(fields, context={"capabilities": capabilities})


def native_size(aspect_ratio: float, capabilities: Capabilities) -> tuple[int, int]:
    """The size the model draws at this aspect: its native area, each side a multiple of what it takes."""
    step = capabilities.size_multiple
    width = max(step, round(math.sqrt(capabilities.native_pixels * aspect_ratio) / step) * step)
    height = max(step, round(math.sqrt(capabilities.native_pixels / aspect_ratio) / step) * step)
    return width, height


def _capabilities(info: ValidationInfo) -> Capabilities:
    """The model a request is parsed for; the default model when none is said (a stored request is complete)."""
    context = info.context or {}
    capabilities: Capabilities = context.get("capabilities", FAMILIES[DEFAULT_FAMILY])
    return capabilities


class EditRequest(BaseModel):
    """What to do with the input images. Field limits here are the only copy of them; the model's own defaults
    and ranges come from `model_families` (see `parse_request`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: Prompt = Field(description="The edit instruction, e.g. 'make the sky stormy'.")
    negative_prompt: str = Field(
        default=" ",
        max_length=MAX_NEGATIVE_PROMPT_CHARS,
        description="What to steer away from. Empty means ' ': the pipelines run true CFG only with a "
        "negative prompt, and guidance is switched by `true_cfg_scale` alone (1 = off).",
    )
    true_cfg_scale: float = Field(
        default=FAMILIES[DEFAULT_FAMILY].default_cfg,
        ge=MIN_CFG,
        le=MAX_CFG,
        description="True classifier-free guidance; 1 turns it off (half the work per step). Default and range: "
        "the model's (`default_cfg`, `min_cfg`, `max_cfg` in the server's limits).",
    )
    num_inference_steps: int = Field(
        default=FAMILIES[DEFAULT_FAMILY].default_steps,
        ge=MIN_STEPS,
        le=MAX_STEPS,
        description="Denoising steps. Default: the model's (`default_steps` in the server's limits).",
    )
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
    output_size: tuple[int, int] | None = Field(
        default=None,
        description="The result's exact [width, height] (the model works at ~1 megapixel in this aspect, then "
        f"the result is resized); each side 16-{MAX_OUTPUT_SIDE}, at most 8:1. Null: the model's size, or "
        "the last input's with `keep_input_size`.",
        json_schema_extra=_optional_in_clients,
    )
    aspect_ratio: str | None = Field(
        default=None,
        pattern=r"^[1-9][0-9]?:[1-9][0-9]?$",
        description="The result's width:height, e.g. 16:9, drawn at the model's native area (about 1 megapixel): "
        "for an image made from the instruction alone (square without it), or to change an edit's aspect. It "
        "sets `output_size`, which wins when both are given.",
        json_schema_extra=_optional_in_clients,
    )
    num_images: int = Field(
        default=1,
        ge=1,
        le=MAX_NUM_IMAGES,
        description="Variations to make, each with its own seed: `seed`, `seed + 1`, ...; any one of them is "
        "made again alone by asking for 1 image with its seed.",
    )
    lightning: bool = Field(
        default=False,
        description="Run the model's few-step path without guidance (`true_cfg_scale` 1): the Edit models' "
        "Lightning LoRA at 8 steps (4 when `num_inference_steps` is 4); Qwen-Image-2.1 at 8 steps (`fast` in "
        "the server's limits says what its model runs). The stored request says what ran.",
    )
    loras: list[LoraChoice] = Field(
        default_factory=list,
        max_length=MAX_LORAS,
        description=f"Up to {MAX_LORAS} LoRA files to apply, each with its weight; names must differ.",
    )
    mask_grow: int = Field(
        default=8,
        ge=0,
        le=MAX_MASK_PX,
        description="With a `mask`: pixels the region is grown by in every direction before the edit, so that an "
        "edge painted a little short (hair, a sleeve) is still inside it and the seam falls on the model's own "
        "pixels. Ignored without a mask.",
        json_schema_extra=_optional_in_clients,
    )
    mask_feather: int = Field(
        default=16,
        ge=0,
        le=MAX_MASK_PX,
        description="With a `mask`: pixels beyond the grown region over which the edit fades into image 1, so no "
        "hard seam shows; every pixel further out is image 1's exactly. Ignored without a mask.",
        json_schema_extra=_optional_in_clients,
    )
    webhook_url: str | None = Field(
        default=None,
        max_length=MAX_WEBHOOK_URL_CHARS,
        description="An http(s) URL the server POSTs the job view to, signed, when the job ends (README, "
        "Webhooks). Loopback, private and link-local addresses are refused unless the operator sets "
        "QIE_WEBHOOK_ALLOW_PRIVATE=1.",
        json_schema_extra=_optional_in_clients,
    )

    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: object) -> object:
        # PostgreSQL cannot store NUL in text, and no prompt or name needs one: refused here, before any store.
        if _contains_nul(data):
            raise ValueError("text must not contain NUL characters (\\u0000); remove them and send it again")
        return data

    @model_validator(mode="before")
    @classmethod
    def _model_defaults(cls, data: object, info: ValidationInfo) -> object:
        if isinstance(data, dict):
            capabilities = _capabilities(info)
            defaults = {"num_inference_steps": capabilities.default_steps, "true_cfg_scale": capabilities.default_cfg}
            data = defaults | data
        return data

    @model_validator(mode="before")
    @classmethod
    def _aspect_ratio_sets_the_size(cls, data: object, info: ValidationInfo) -> object:
        if not isinstance(data, dict) or data.get("output_size") is not None:
            return data
        ratio = data.get("aspect_ratio")
        if not isinstance(ratio, str) or not re.fullmatch(r"[1-9][0-9]?:[1-9][0-9]?", ratio):
            return data  # absent, or refused by the field's own pattern
        width, height = (int(side) for side in ratio.split(":"))
        if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
            raise ValueError(f"aspect_ratio {ratio} is beyond {MAX_ASPECT_RATIO:g}:1; choose one closer to square")
        return {**data, "output_size": native_size(width / height, _capabilities(info))}

    @model_validator(mode="before")
    @classmethod
    def _fast_path_runs_its_own_settings(cls, data: object, info: ValidationInfo) -> object:
        # Recorded as run: distilled LoRAs know only their step counts, and guidance is baked in.
        if isinstance(data, dict) and data.get("lightning") is True:
            fast = _capabilities(info).fast
            steps = data.get("num_inference_steps")
            steps = steps if steps in fast.steps else fast.default_steps
            data = {**data, "num_inference_steps": steps, "true_cfg_scale": MIN_CFG}
        return data

    @field_validator("true_cfg_scale")
    @classmethod
    def _cfg_in_the_models_range(cls, value: float, info: ValidationInfo) -> float:
        capabilities = _capabilities(info)
        if not capabilities.min_cfg <= value <= capabilities.max_cfg:
            low, high = capabilities.min_cfg, capabilities.max_cfg
            raise ValueError(f"{capabilities.name} takes guidance {low:g} to {high:g}, not {value:g}")
        return value

    @field_validator("loras")
    @classmethod
    def _names_differ(cls, value: list[LoraChoice]) -> list[LoraChoice]:
        names = [choice.name for choice in value]
        if len(set(names)) != len(names):
            raise ValueError(f"each LoRA may be named once, got {names}")
        return value

    @field_validator("output_size")
    @classmethod
    def _output_size_is_drawable(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is None:
            return value
        width, height = value
        if not (min(value) >= MIN_IMAGE_SIDE and max(value) <= MAX_OUTPUT_SIDE):
            raise ValueError(f"each side must be {MIN_IMAGE_SIDE} to {MAX_OUTPUT_SIDE} pixels, got {width}x{height}")
        if max(value) / min(value) > MAX_ASPECT_RATIO:
            raise ValueError(f"at most {MAX_ASPECT_RATIO:g}:1, got {width}x{height}")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError as exc:
            raise ValueError(f"webhook_url is not a valid URL: {exc}") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook_url must be an http:// or https:// URL with a host, got {value!r}")
        if parts.username is not None or parts.password is not None:
            raise ValueError("webhook_url may not carry a user name or password; check the signature instead")
        return value

    @field_validator("negative_prompt")
    @classmethod
    def _blank_means_space(cls, value: str) -> str:
        return value if value.strip() else " "

    def with_seed(self, seed: int) -> EditRequest:
        return self.model_copy(update={"seed": seed})

    def image_seeds(self) -> list[int]:
        """The seed of each variation, in order (wrapping past MAX_SEED, so every one is a valid seed)."""
        assert self.seed is not None, "seeds are chosen at submit time"
        return [(self.seed + index) % (MAX_SEED + 1) for index in range(self.num_images)]

    def seed_or_random(self) -> int:
        """The given seed, or a fresh random one (reported with the result so it can be reused)."""
        return self.seed if self.seed is not None else secrets.randbelow(MAX_SEED + 1)


MIN_IMAGE_SIDE = 16  # smaller inputs carry too little for the model's 16-pixel latent patches
MAX_ASPECT_RATIO = 8.0  # beyond this the ~1 MP output would be a sliver a few patches wide


SETTINGS_FORMAT = "qie-settings/1"


def _contains_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(key) or _contains_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_nul(item) for item in value)
    return False


def embedded_settings(request: EditRequest, *, seed: int, model: str, masked: bool = False) -> dict[str, Any]:
    """What a result file records of how it was made (README, "Settings in the file"): one JSON shape; with a
    mask, how its region was grown and feathered."""
    settings: dict[str, Any] = {
        "format": SETTINGS_FORMAT,
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "seed": seed,
        "steps": request.num_inference_steps,
        "guidance": request.true_cfg_scale,
        "model": model,
        "loras": [{"name": choice.name, "weight": choice.weight} for choice in request.loras],
        "lightning": request.lightning,
    }
    if masked:
        settings |= {"mask_grow": request.mask_grow, "mask_feather": request.mask_feather}
    return settings
