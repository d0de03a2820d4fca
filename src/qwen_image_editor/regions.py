"""Edit regions (issue 20): a mask says where a job may change image 1; everything else comes back as it went in.

Pure pixel work (Pillow and numpy, no files): reading a mask in the API's or OpenAI's meaning, growing and
feathering it into a soft mask, compositing so that a soft value of 0 gives exactly the original's pixel, and
crop-and-stitch planning so that a small region in a big photo gets the model's full resolution.

Masks here are mode L at image 1's size: 255 = edit, 0 = keep, soft between.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from PIL import Image, ImageFilter

from qwen_image_editor.engine.inpainting import LATENT_MASK, MARKS_LATENT_MASK, family_working_size
from qwen_image_editor.errors import InvalidImage, InvalidRequest
from qwen_image_editor.imaging import decode_upload, has_transparency
from qwen_image_editor.model_families import Capabilities, ModelFamily

# Under this share of image 1's area, the grown region's box is edited on a crop at the model's native area.
CROP_BELOW_SHARE = 0.4
# Context around the region's box on each side, as a share of its longer side (at least CROP_MIN_MARGIN px):
# the model sees enough of the surroundings to match their light and style.
CROP_MARGIN_SHARE = 0.5
CROP_MIN_MARGIN = 64
# A crop that would cover more than this share of the image is not worth it: the whole image is edited.
CROP_MAX_SHARE = 0.8
# A crop's sides are kept within this ratio (a thin stroke still gets a usable context).
CROP_MAX_ASPECT = 4.0


class MaskMeaning(StrEnum):
    """Which pixels of a mask image mean "edit here"."""

    OPAQUE_EDITS = "opaque"  # the API's: white (or, in a mask with transparency, opaque) means edit
    TRANSPARENT_EDITS = "transparent"  # OpenAI's Images API: fully transparent means edit


class RegionApproach(StrEnum):
    """How the model is kept to the region (each followed by the exact composite onto image 1), as the engine
    names it (`engine.inpainting`, `EditResult.region_approach`)."""

    LATENT_MASK = LATENT_MASK  # Edit, 2509, 2511: latents outside are held on image 1's, re-noised, at every step
    MARKS = MARKS_LATENT_MASK  # Qwen-Image-2.1: marks painted on image 1 that the prompt names, and the same hold


def approach_for(family: ModelFamily) -> RegionApproach:
    return RegionApproach.MARKS if family is ModelFamily.IMAGE_21 else RegionApproach.LATENT_MASK


@dataclass(frozen=True)
class RegionPlan:
    """Where the model works: on `crop_box` of image 1 (left, top, right, bottom), or on the whole image when it is
    None, at `working_size` (width, height): the model's native area in the crop's (or image's) aspect."""

    approach: RegionApproach
    crop_box: tuple[int, int, int, int] | None
    working_size: tuple[int, int]


def parse_mask(
    data: bytes, size: tuple[int, int], *, meaning: MaskMeaning, max_pixels: int, name: str = "mask"
) -> Image.Image:
    """The mask file `data` as an L mask at image 1's `size` (scaled when it differs). InvalidRequest, saying what
    to send instead, for a file that is not an image and for a mask that marks nothing or everything."""
    try:
        decoded = decode_upload(io.BytesIO(data), max_pixels=max_pixels, name=name, keep_alpha=True).image
    except InvalidImage as exc:  # a 422 like every other bad mask, not the 400/415 of a bad reference image
        raise InvalidRequest(str(exc), param=name) from exc
    if meaning is MaskMeaning.TRANSPARENT_EDITS:
        if decoded.mode != "RGBA":
            raise InvalidRequest(
                f"{name} has no alpha channel: make the area to edit fully transparent in a PNG with alpha",
                param=name,
            )
        alpha = np.asarray(decoded.getchannel("A"))
        mask = Image.fromarray((255 - alpha).astype(np.uint8), "L")
    elif has_transparency(decoded):  # a layer painted on a transparent background: what is painted is edited
        mask = decoded.getchannel("A")
    else:
        mask = decoded.convert("L")
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.BILINEAR)
    values = np.asarray(mask)
    how = "transparent" if meaning is MaskMeaning.TRANSPARENT_EDITS else "white"
    if not (values >= 128).any():
        raise InvalidRequest(
            f"{name} marks nothing to edit: paint the area to change {how} (at image 1's size {size[0]}x{size[1]}), "
            "or send no mask to edit the whole image",
            param=name,
        )
    if (values >= 128).all():
        raise InvalidRequest(
            f"{name} marks the whole image: send no mask to edit all of it, or paint only the area to change {how}",
            param=name,
        )
    return mask


def grow(mask: Image.Image, pixels: int) -> Image.Image:
    """`mask` dilated by `pixels` in every direction (a square reach: each pixel takes its neighbourhood's max)."""
    box = _around(mask, pixels)
    if pixels <= 0 or box is None:
        return mask.copy()
    values = np.asarray(mask.crop(box), dtype=np.uint8)
    values = _running_max(_running_max(values, pixels, axis=0), pixels, axis=1)
    return _placed(Image.fromarray(values, "L"), mask.size, box)


def feather(mask: Image.Image, pixels: int) -> Image.Image:
    """`mask` with its edge blended outward over `pixels`: full inside the mask, 0 from `pixels` beyond its edge
    on (exactly), a smooth ramp between."""
    reach = pixels // 2
    grown = grow(mask, reach)
    box = _around(grown, reach + 1)  # a frame of zeros around the work: the blur's clamped edges read 0 there
    if reach <= 0 or box is None:
        return mask.copy()
    # Grown by half the band, then averaged over a box of that reach: the ramp starts at the mask's edge and
    # ends `2 * reach` beyond it, with nothing (exactly 0) further out. Smoothstep rounds the ramp's corners.
    blurred = np.asarray(grown.crop(box).filter(ImageFilter.BoxBlur(reach)), dtype=np.float32) / 255
    smooth = blurred * blurred * (3 - 2 * blurred)
    return _placed(Image.fromarray(np.rint(smooth * 255).astype(np.uint8), "L"), mask.size, box)


def _around(mask: Image.Image, reach: int) -> tuple[int, int, int, int] | None:
    """The box of what `mask` marks, `reach` wider on each side within the image; None when it marks nothing.
    Work on a small region in a big photo stays small: outside this box, growing or feathering leaves 0."""
    box = mask.getbbox()
    if box is None:
        return None
    width, height = mask.size
    reach = max(0, reach)
    return max(0, box[0] - reach), max(0, box[1] - reach), min(width, box[2] + reach), min(height, box[3] + reach)


def _placed(part: Image.Image, size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    whole = Image.new("L", size, 0)
    whole.paste(part, box[:2])
    return whole


def soft_mask(mask: Image.Image, *, grow_px: int, feather_px: int) -> Image.Image:
    """The mask as a job applies it: grown, then feathered. 0 (keep exactly) further than `grow_px + feather_px`
    from anything the mask marks."""
    return feather(grow(mask, grow_px), feather_px)


def composite(original: Image.Image, edited: Image.Image, soft: Image.Image) -> Image.Image:
    """`edited` over `original` through `soft` (255 = edited, 0 = original exactly); in `original`'s mode and size.
    Where soft is 0 the result's pixel is the original's bit for bit (RGB and RGBA)."""
    if edited.size != original.size:
        edited = edited.resize(original.size, Image.Resampling.LANCZOS)
    if edited.mode != original.mode:
        edited = edited.convert(original.mode)
    box = soft.getbbox()
    if box is None:
        return original.copy()
    if box != (0, 0, *original.size):  # only where the mask reaches: a small region in a big photo stays cheap
        result = original.copy()
        result.paste(_blended(original.crop(box), edited.crop(box), soft.crop(box)), box[:2])
        return result
    return _blended(original, edited, soft)


def _blended(original: Image.Image, edited: Image.Image, soft: Image.Image) -> Image.Image:
    base = np.asarray(original, dtype=np.uint32)
    over = np.asarray(edited, dtype=np.uint32)
    weight = np.asarray(soft, dtype=np.uint32)
    if base.ndim == 3:
        weight = weight[:, :, None]
    blended = (base * (255 - weight) + over * weight + 127) // 255  # 0 -> base exactly, 255 -> over exactly
    return Image.fromarray(blended.astype(np.uint8), original.mode)


def stitch(
    original: Image.Image, edited_crop: Image.Image, soft: Image.Image, crop_box: tuple[int, int, int, int]
) -> Image.Image:
    """The edited crop put back into `original` through the full-size `soft` mask; nothing outside the crop (nor
    where soft is 0 inside it) changes."""
    left, top, right, bottom = crop_box
    size = (right - left, bottom - top)
    if edited_crop.size != size:
        edited_crop = edited_crop.resize(size, Image.Resampling.LANCZOS)
    result = original.copy()
    result.paste(composite(original.crop(crop_box), edited_crop, soft.crop(crop_box)), (left, top))
    return result


@dataclass(frozen=True)
class RegionEdit:
    """One masked edit as the worker and `qie edit` run it: image 1 whole, its soft mask, the crop the model edits."""

    original: Image.Image
    soft: Image.Image
    crop_box: tuple[int, int, int, int] | None

    def for_the_model(self) -> tuple[Image.Image, Image.Image]:
        """Image 1 and the mask as the model gets them: cropped, for crop and stitch."""
        if self.crop_box is None:
            return self.original, self.soft
        return self.original.crop(self.crop_box), self.soft.crop(self.crop_box)

    def put_back(self, edited: Image.Image) -> Image.Image:
        """The model's result on image 1 at its exact size: where the soft mask is 0, image 1's pixels exactly."""
        if self.crop_box is None:
            return composite(self.original, edited, self.soft)
        return stitch(self.original, edited, self.soft, self.crop_box)


def working_size(size: tuple[int, int], capabilities: Capabilities) -> tuple[int, int]:
    """The size the engine draws an image (or crop) of `size` at: the model's native area at most, in its aspect
    as exactly as the model's size multiple allows (`engine.inpainting.working_size`)."""
    return family_working_size(size, capabilities.size_multiple, capabilities.native_pixels)


def plan_region(soft: Image.Image, capabilities: Capabilities) -> RegionPlan:
    """Crop and stitch when the soft mask's box is under CROP_BELOW_SHARE of image 1: a crop around it with a
    context margin, widened where the image allows to the exact aspect of its working size. Else the whole image."""
    approach = approach_for(capabilities.family)
    width, height = soft.size
    whole = RegionPlan(approach, None, working_size(soft.size, capabilities))
    box = soft.getbbox()
    if box is None:
        return whole
    left, top, right, bottom = box
    if (right - left) * (bottom - top) >= CROP_BELOW_SHARE * width * height:
        return whole
    margin = max(CROP_MIN_MARGIN, round(CROP_MARGIN_SHARE * max(right - left, bottom - top)))
    crop_w = min(width, right - left + 2 * margin)
    crop_h = min(height, bottom - top + 2 * margin)
    crop_w = min(width, max(crop_w, math.ceil(crop_h / CROP_MAX_ASPECT)))
    crop_h = min(height, max(crop_h, math.ceil(crop_w / CROP_MAX_ASPECT)))
    exact = _exact_aspect(crop_w, crop_h, working_size((crop_w, crop_h), capabilities))
    if exact[0] <= width and exact[1] <= height:
        crop_w, crop_h = exact
    if crop_w * crop_h > CROP_MAX_SHARE * width * height:
        return whole
    crop_left = _centred(left, right, crop_w, width)
    crop_top = _centred(top, bottom, crop_h, height)
    crop = (crop_left, crop_top, crop_left + crop_w, crop_top + crop_h)
    return RegionPlan(approach, crop, working_size((crop_w, crop_h), capabilities))


def _exact_aspect(crop_w: int, crop_h: int, size: tuple[int, int]) -> tuple[int, int]:
    """The smallest (w, h) covering (crop_w, crop_h) with w / h exactly `size`'s aspect."""
    unit = math.gcd(*size)
    unit_w, unit_h = size[0] // unit, size[1] // unit
    scale = max(math.ceil(crop_w / unit_w), math.ceil(crop_h / unit_h))
    return unit_w * scale, unit_h * scale


def _centred(low: int, high: int, length: int, limit: int) -> int:
    """The start of a span of `length` centred on [low, high), moved to lie within [0, limit)."""
    start = (low + high - length) // 2
    return min(max(0, start), limit - length)


def _running_max(values: np.ndarray, reach: int, *, axis: int) -> np.ndarray:
    """Each element's max over [i - reach, i + reach] along `axis` (0 beyond the edges), in O(log reach) passes."""
    moved = np.moveaxis(values, axis, 0)
    length = moved.shape[0]
    window = 2 * reach + 1
    padded = np.zeros((length + 2 * reach, *moved.shape[1:]), dtype=moved.dtype)
    padded[reach : reach + length] = moved
    # spans[i] = max(padded[i : i + span]), doubling the span until it is at least half the window
    spans, span = padded, 1
    while span * 2 <= window:
        spans = np.maximum(spans[:-span], spans[span:]) if span < spans.shape[0] else spans
        span *= 2
    # Two overlapping spans cover the window exactly.
    result = np.maximum(spans[:length], spans[window - span : window - span + length])
    return np.moveaxis(result, 0, axis)
