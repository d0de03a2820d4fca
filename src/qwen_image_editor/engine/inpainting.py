"""How the engine keeps a region edit to its region (issue 20), for every family, in one place.

1. `working_size`: the model draws at image 1's aspect ratio (as exactly as its size multiple allows) and the
   result is resized back onto image 1's pixel grid, never cropped: nothing zooms or shifts.
2. `LatentMask`: the usual latent-mask inpainting, through the step callback. After each denoising step the
   latents outside the region are put back on image 1's own latents, re-noised to the next step's noise level
   (as diffusers' QwenImageEditInpaintPipeline does inside its loop), so the model sees the real surroundings at
   every step and its edit agrees with them at the seam; after the last step they are image 1's clean latents.
3. `paint_marks`: Qwen-Image-2.1's local-edit input, marks painted on image 1 with the prompt naming their colour.

The caller (the worker) composites the result onto image 1, so the pixels outside are exactly image 1's; what
this module buys is that the model's pixels inside agree with them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from qwen_image_editor.errors import InvalidRequest

# What EditResult.region_approach records.
LATENT_MASK = "latent-mask"  # Edit, 2509, 2511: latents outside the region held on image 1's at every step
# 2.1: the region painted on image 1 as a translucent red mark that the prompt names (its published local-edit
# input), and the latents outside held as above.
MARKS_LATENT_MASK = "marks+latent-mask"

# Of the sizes no larger than the model's native area, the working size is taken among those at least this share
# of it: a better aspect ratio is not worth drawing at much less than the model's resolution.
MIN_AREA_SHARE = 0.8

# The area region edits are drawn at; None: the family's native area. Read at call time, so tests may lower it.
WORKING_AREA: int | None = None

# 2.1's mark: translucent red, which the prompt names. Red because it is the colour guides use for marks and the
# one least likely to be mistaken for the image's own content in most photos.
MARK_COLOUR = (255, 0, 0)
MARK_OPACITY = 0.5
MARK_PROMPT = "In the area marked in translucent red: {prompt} Remove the red marking; keep everything else unchanged."


def working_size(image_size: tuple[int, int], multiple: int, area: int) -> tuple[int, int]:
    """The (width, height) the model draws a region edit of an image of `image_size` at.

    The rule: both sides are multiples of `multiple` (the model's size multiple), the area is at most `area` (the
    model's native area) and at least MIN_AREA_SHARE of it, and of those sizes the one whose aspect ratio is
    closest to the image's (ties: the larger area). The result is then resized to the image's exact size, so the
    only change of geometry is a stretch by that aspect error (a few tenths of a percent at most for common photo
    sizes: the README's table), the same across the whole frame: never a crop, a zoom or a shift. When no size
    reaches MIN_AREA_SHARE (an extreme aspect ratio), the closest aspect among all sizes within `area` is taken.
    """
    width, height = image_size
    if width < 1 or height < 1 or multiple < 1 or area < multiple * multiple:
        raise ValueError(f"no working size for {width}x{height} in multiples of {multiple} within {area} pixels")
    ratio = width / height
    best: tuple[bool, float, int, int, int] | None = None  # (too small, aspect error, -area, width, height)
    for rows in range(1, area // (multiple * multiple) + 1):
        h = rows * multiple
        widest = area // h // multiple * multiple
        if widest < multiple:
            break
        exact = ratio * h / multiple
        for w in {
            max(multiple, min(widest, math.floor(exact) * multiple)),
            max(multiple, min(widest, math.ceil(exact) * multiple)),
        }:
            key = (w * h < MIN_AREA_SHARE * area, abs(math.log(w / h / ratio)), -w * h, w, h)
            if best is None or key < best:
                best = key
    assert best is not None, "area >= multiple**2 gives at least one size"
    return best[3], best[4]


def check_region(images: Sequence[Image.Image], region: Image.Image | None) -> None:
    """Refuse a region the engine cannot use, before any model work: it needs an image 1 of its very size."""
    if region is None:
        return
    if not images:
        raise InvalidRequest("a region (mask) needs an input image to edit: send image 1 with it")
    if region.size != images[0].size:
        raise InvalidRequest(
            f"the region is {region.width}x{region.height} but image 1 is {images[0].width}x{images[0].height}: "
            "a mask must be image 1's size"
        )


def family_working_size(image_size: tuple[int, int], multiple: int, native_pixels: int) -> tuple[int, int]:
    """`working_size` at the family's native area, or at WORKING_AREA where that is set (tests)."""
    return working_size(image_size, multiple, WORKING_AREA or native_pixels)


def paint_marks(image: Image.Image, region: Image.Image) -> Image.Image:
    """Image 1 with the region painted over in MARK_COLOUR at MARK_OPACITY (soft where the region is soft); an alpha
    channel is kept as it was."""
    mask = region.convert("L").resize(image.size, Image.Resampling.BILINEAR)
    colour = Image.new("RGB", image.size, MARK_COLOUR)
    opacity = mask.point(lambda value: round(value * MARK_OPACITY))
    painted = Image.composite(colour, image.convert("RGB"), opacity)
    if image.mode == "RGBA":
        painted.putalpha(image.getchannel("A"))
    return painted


def marks_prompt(prompt: str) -> str:
    """The job's prompt, naming the marks `paint_marks` drew."""
    return MARK_PROMPT.format(prompt=prompt.strip())


@dataclass
class LatentMask:
    """Image 1's latents, the region on the latent grid, and the starting noise, for one call of one pipeline.

    Tensors are packed as the pipeline packs its latents ((1, tokens, channels)): `keep` is 1 where the latents are
    held on image 1's and 0 where the model draws. `noise` goes in as the call's `latents=`, so that the held
    latents are re-noised with the very noise the model starts from, as in diffusers' inpainting pipelines.
    """

    clean: Any  # image 1's latents at the working size
    keep: Any  # 1 outside the region, 0 inside
    noise: Any  # the starting latents, pure noise (strength 1)

    @classmethod
    def prepare(
        cls,
        pipeline: Any,
        image: Image.Image,
        region: Image.Image,
        size: tuple[int, int],
        seed: int,
        mode: str = "RGB",
    ) -> LatentMask:
        """Encode `image` (in `mode`: RGBA for 2.1, whose VAE encodes alpha) at `size` (width, height) with the
        pipeline's VAE and preprocessing, and bring `region`
        (the image's size) to its latent grid. A latent cell is drawn by the model if any pixel of it is in the
        region (a max-pool): so the edit can reach the region's very edge; the pixel composite keeps the rest."""
        import torch
        from diffusers.utils.torch_utils import randn_tensor

        width, height = size
        scale = pipeline.vae_scale_factor
        grid_h, grid_w = 2 * (height // (scale * 2)), 2 * (width // (scale * 2))
        channels = pipeline.latent_channels
        device, dtype = pipeline._execution_device, pipeline.vae.dtype
        # Encoding: as the pipelines do (their image processor, then _encode_vae_image with sample_mode="argmax").
        pixels = pipeline.image_processor.preprocess(image.convert(mode), height, width).unsqueeze(2)
        with torch.no_grad():
            encoded = pipeline._encode_vae_image(pixels.to(device=device, dtype=dtype), None)  # (1, C, 1, h, w)
        latents = encoded[:, :, 0].contiguous()
        clean = pipeline._pack_latents(latents, 1, channels, grid_h, grid_w)
        # The region on the latent grid: any region pixel in a cell makes the model draw it.
        mask = region.convert("L").resize((width, height), Image.Resampling.BILINEAR)
        drawn = torch.frombuffer(bytearray(mask.tobytes()), dtype=torch.uint8).view(1, 1, height, width).float()
        drawn = torch.nn.functional.max_pool2d(drawn, kernel_size=(height // grid_h, width // grid_w))
        keep = (drawn[:, :, :grid_h, :grid_w] == 0).to(dtype=clean.dtype, device=clean.device)
        keep = pipeline._pack_latents(keep.repeat(1, channels, 1, 1).contiguous(), 1, channels, grid_h, grid_w)
        # The pipelines draw their starting latents the same way (randn_tensor, then pack).
        generator = torch.Generator(device="cpu").manual_seed(seed)
        noise = randn_tensor((1, 1, channels, grid_h, grid_w), generator=generator, device=device, dtype=clean.dtype)
        noise = pipeline._pack_latents(noise[:, 0].contiguous(), 1, channels, grid_h, grid_w)
        return cls(clean=clean, keep=keep, noise=noise)

    def hold(self, pipeline: Any, index: int, latents: Any) -> Any:
        """The latents after step `index` with those outside the region put back on image 1's at the next step's
        noise level (the scheduler's `scale_noise`, which after a step reads its step index); after the last
        step, on image 1's clean latents."""

        scheduler = pipeline.scheduler
        held = self.clean
        if index < len(scheduler.timesteps) - 1:
            held = scheduler.scale_noise(self.clean, scheduler.timesteps[index + 1 : index + 2], self.noise)
        keep = self.keep.to(device=latents.device, dtype=latents.dtype)
        return keep * held.to(device=latents.device, dtype=latents.dtype) + (1 - keep) * latents
