"""Edit regions (issue 20): reading masks, growing and feathering them, exact composites, crop-and-stitch plans."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from qwen_image_editor.errors import InvalidRequest
from qwen_image_editor.model_families import FAMILIES, ModelFamily
from qwen_image_editor.regions import (
    MaskMeaning,
    RegionApproach,
    composite,
    feather,
    grow,
    parse_mask,
    plan_region,
    soft_mask,
    stitch,
)

MAX_PIXELS = 50_000_000


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def box_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=255)
    return mask


def noise(size: tuple[int, int], seed: int, mode: str = "RGB") -> Image.Image:
    channels = len(mode)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(pixels, mode)


def test_a_white_mask_marks_the_edit_and_is_scaled_to_image_1() -> None:
    mask = parse_mask(
        png(box_mask((320, 240), (10, 10, 50, 50))), (641, 479), meaning=MaskMeaning.OPAQUE_EDITS, max_pixels=MAX_PIXELS
    )
    assert mask.mode == "L" and mask.size == (641, 479)
    values = np.asarray(mask)
    assert values[60, 60] == 255 and values[300, 400] == 0


def test_a_painted_layer_on_transparency_marks_what_is_painted() -> None:
    layer = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    ImageDraw.Draw(layer).rectangle((8, 8, 23, 23), fill=(0, 0, 0, 255))  # black paint: opaque, not white
    mask = parse_mask(png(layer), (64, 48), meaning=MaskMeaning.OPAQUE_EDITS, max_pixels=MAX_PIXELS)
    assert np.asarray(mask)[10, 10] == 255 and np.asarray(mask)[40, 40] == 0


def test_openai_masks_edit_where_they_are_transparent() -> None:
    mask = Image.new("RGBA", (64, 48), (255, 255, 255, 255))
    ImageDraw.Draw(mask).rectangle((8, 8, 23, 23), fill=(0, 0, 0, 0))
    parsed = np.asarray(parse_mask(png(mask), (64, 48), meaning=MaskMeaning.TRANSPARENT_EDITS, max_pixels=MAX_PIXELS))
    assert parsed[10, 10] == 255 and parsed[40, 40] == 0
    with pytest.raises(InvalidRequest, match="no alpha channel"):
        parse_mask(png(Image.new("RGB", (64, 48))), (64, 48), meaning=MaskMeaning.TRANSPARENT_EDITS, max_pixels=10**6)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (png(Image.new("L", (64, 48), 0)), "marks nothing"),
        (png(Image.new("L", (64, 48), 255)), "marks the whole image"),
        (b"not an image at all", "not a JPEG, PNG, WebP, TIFF or HEIC"),
    ],
)
def test_bad_masks_are_refused_saying_what_to_send(data: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message) as refused:
        parse_mask(data, (64, 48), meaning=MaskMeaning.OPAQUE_EDITS, max_pixels=MAX_PIXELS)
    assert type(refused.value) is InvalidRequest and refused.value.param == "mask"  # a 422, not a 400/415


def test_grow_reaches_exactly_its_pixels() -> None:
    grown = np.asarray(grow(box_mask((101, 81), (50, 40, 51, 41)), 8))
    ys, xs = np.nonzero(grown)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (42, 58, 32, 48)
    assert np.asarray(grow(box_mask((5, 5), (0, 0, 1, 1)), 10)).all()  # reaching past the edges is fine


def test_feather_ramps_from_the_edge_to_zero_within_its_width() -> None:
    mask = box_mask((200, 100), (80, 40, 120, 60))
    soft = np.asarray(feather(mask, 16))
    assert (soft[40:60, 80:120] == 255).all()  # the mask itself is edited fully
    outside = np.asarray(grow(mask, 16)) == 0
    assert (soft[outside] == 0).all()  # nothing beyond the feather's width
    band = soft[50, 120:136]
    assert band[0] > band[8] > band[-1] and 0 < band[8] < 255  # a ramp between


def test_composite_keeps_every_pixel_where_the_soft_mask_is_zero() -> None:
    for mode in ("RGB", "RGBA"):
        original, edited = noise((641, 479), 1, mode), noise((641, 479), 2, mode)
        soft = soft_mask(box_mask((641, 479), (300, 200, 340, 230)), grow_px=8, feather_px=16)
        result = composite(original, edited, soft)
        assert result.size == (641, 479) and result.mode == mode
        keep = np.asarray(soft) == 0
        assert (np.asarray(result)[keep] == np.asarray(original)[keep]).all()
        full = np.asarray(soft) == 255
        assert (np.asarray(result)[full] == np.asarray(edited)[full]).all()


def test_a_small_region_in_a_big_photo_is_edited_on_a_crop_at_the_native_area() -> None:
    capabilities = FAMILIES[ModelFamily.EDIT_2511]
    soft = soft_mask(box_mask((4000, 3000), (1800, 1400, 2000, 1550)), grow_px=8, feather_px=16)
    plan = plan_region(soft, capabilities)
    assert plan.approach is RegionApproach.LATENT_MASK and plan.crop_box is not None
    left, top, right, bottom = plan.crop_box
    box = soft.getbbox()
    assert box is not None and left <= box[0] and top <= box[1] and right >= box[2] and bottom >= box[3]
    assert min(left, top) >= 0 and right <= 4000 and bottom <= 3000
    width, height = plan.working_size
    assert width * height <= capabilities.native_pixels and width * height >= 0.8 * capabilities.native_pixels
    assert width % capabilities.size_multiple == 0 and height % capabilities.size_multiple == 0
    assert (right - left) * height == (bottom - top) * width  # the crop's exact aspect: no stretch
    original, edited = noise((4000, 3000), 3), noise((right - left, bottom - top), 4)
    result = stitch(original, edited, soft, plan.crop_box)
    assert result.size == (4000, 3000)
    keep = np.asarray(soft) == 0
    assert (np.asarray(result)[keep] == np.asarray(original)[keep]).all()
    assert not (np.asarray(result)[np.asarray(soft) == 255] == np.asarray(original)[np.asarray(soft) == 255]).all()


def test_a_large_region_is_edited_on_the_whole_image() -> None:
    soft = soft_mask(box_mask((641, 479), (50, 50, 600, 400)), grow_px=8, feather_px=16)
    plan = plan_region(soft, FAMILIES[ModelFamily.IMAGE_21])
    assert plan.crop_box is None and plan.approach is RegionApproach.MARKS
    assert plan.working_size[0] * plan.working_size[1] <= 1024 * 1024


def test_a_thin_stroke_at_the_edge_gets_a_crop_inside_the_image() -> None:
    soft = soft_mask(box_mask((3000, 2000), (0, 1990, 1000, 2000)), grow_px=8, feather_px=16)
    plan = plan_region(soft, FAMILIES[ModelFamily.EDIT])
    assert plan.crop_box is not None
    left, top, right, bottom = plan.crop_box
    assert 0 <= left < right <= 3000 and 0 <= top < bottom <= 2000
    assert max(right - left, bottom - top) / min(right - left, bottom - top) <= 4.0


@pytest.mark.parametrize("box", [(80, 40, 120, 60), (0, 0, 30, 20), (170, 90, 200, 100)])
def test_working_on_the_regions_box_alone_changes_nothing(box: tuple[int, int, int, int]) -> None:
    """grow and feather work only around what the mask marks: the same pixels as over the whole image."""
    mask = box_mask((200, 100), box)
    values = np.asarray(mask)
    naive_grown = np.zeros_like(values)
    for dy in range(-8, 9):
        for dx in range(-8, 9):
            shifted = np.zeros_like(values)
            ys, xs = slice(max(0, dy), 100 + min(0, dy)), slice(max(0, dx), 200 + min(0, dx))
            yt, xt = slice(max(0, -dy), 100 + min(0, -dy)), slice(max(0, -dx), 200 + min(0, -dx))
            shifted[ys, xs] = values[yt, xt]
            naive_grown = np.maximum(naive_grown, shifted)
    assert (np.asarray(grow(mask, 8)) == naive_grown).all()
    whole = np.asarray(Image.fromarray(naive_grown, "L").filter(ImageFilter.BoxBlur(8)), dtype=np.float32) / 255
    naive_soft = np.rint(whole * whole * (3 - 2 * whole) * 255).astype(np.uint8)
    assert (np.asarray(feather(mask, 16)) == naive_soft).all()
