"""Image files in and out: strict decoding of untrusted bytes, layout helpers, and clean encoding.

Only JPEG, PNG and WebP are decoded, judged by their bytes. The pixel count is checked from the header
before any pixel is decoded, and Pillow's decompression-bomb warning is raised as an error.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from qwen_image_editor.edit_request import OutputFormat
from qwen_image_editor.errors import InvalidImage

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
ACCEPTED_MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp")
ACCEPTED_DESCRIPTION = "JPEG, PNG or WebP"
THUMBNAIL_SIZE = (384, 384)


def decode_image(source: str | Path | BinaryIO, *, max_pixels: int, name: str = "image") -> Image.Image:
    """Decode an untrusted image file into an upright RGB image with no metadata.

    Raises InvalidImage, with a message naming `name` and what is accepted, for anything else.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=ACCEPTED_FORMATS) as opened:
                width, height = opened.size
                if width * height > max_pixels:
                    raise InvalidImage(
                        f"{name} is {width}x{height} = {width * height:,} pixels; the limit is "
                        f"{max_pixels:,}. Downscale it and try again."
                    )
                opened.load()
                upright = ImageOps.exif_transpose(opened)
                return to_rgb(upright)
    except InvalidImage:
        raise
    except UnidentifiedImageError as exc:
        raise InvalidImage(
            f"{name} is not a {ACCEPTED_DESCRIPTION} image (judged by its content, not its name). "
            f"Convert it to one of those formats.",
            unsupported_type=True,
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage(
            f"{name} declares too many pixels to decode safely; the limit is {max_pixels:,}. "
            "Downscale it and try again."
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data inside a known format
        raise InvalidImage(f"{name} could not be decoded ({exc}); the file is damaged or incomplete.") from exc


def to_rgb(image: Image.Image) -> Image.Image:
    """Plain RGB: transparency is composited on white, palettes and greys expanded."""
    if image.mode == "RGB":
        return image.copy()
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def side_by_side(images: Sequence[Image.Image]) -> Image.Image:
    """Place images left to right at a common height (the smallest), each keeping its aspect ratio."""
    height = min(image.height for image in images)
    scaled = [
        image
        if image.height == height
        else image.resize((max(1, round(image.width * height / image.height)), height), Image.Resampling.LANCZOS)
        for image in images
    ]
    canvas = Image.new("RGB", (sum(image.width for image in scaled), height), (255, 255, 255))
    x = 0
    for image in scaled:
        canvas.paste(image, (x, 0))
        x += image.width
    return canvas


def encode_image(image: Image.Image, output_format: OutputFormat) -> bytes:
    """Encode with our own settings and no metadata (no EXIF, no text chunks)."""
    buffer = io.BytesIO()
    clean = to_rgb(image)
    if output_format is OutputFormat.PNG:
        clean.save(buffer, format="PNG", compress_level=6)
    elif output_format is OutputFormat.JPEG:
        clean.save(buffer, format="JPEG", quality=95, subsampling=0)
    else:
        clean.save(buffer, format="WEBP", quality=95, method=4)
    return buffer.getvalue()


def make_thumbnail(image: Image.Image) -> bytes:
    """A small WebP preview for galleries."""
    thumb = to_rgb(image)
    thumb.thumbnail(THUMBNAIL_SIZE, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="WEBP", quality=80)
    return buffer.getvalue()
