"""Image files in and out: strict decoding of untrusted bytes, layout helpers, and clean encoding.

Only JPEG, PNG, WebP, TIFF and HEIC/HEIF are decoded, judged by their bytes. The pixel count is checked from
the header before any pixel is decoded, and Pillow's decompression-bomb warning is raised as an error. TIFF and
HEIC (what cameras and phones write, and what a browser cannot reduce in a canvas) go through the same checks:
of a multi-page TIFF or a HEIC with several images only the first (primary) one is read.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from qwen_image_editor.edit_request import OutputFormat
from qwen_image_editor.errors import InvalidImage

# HEIC/HEIF through libheif (pillow-heif), registered as Pillow's "HEIF" format. Thumbnails, depth maps and
# auxiliary images are never read: only the primary image's pixels, within the same bounds as the rest. A machine
# without it (a wheel folder carried to a GPU machine may leave it out) still runs, and says HEIC is not accepted.
try:
    from pillow_heif import register_heif_opener
except ImportError:
    HEIF = False
else:
    register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    HEIF = True

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", *(("HEIF",) if HEIF else ()))
ACCEPTED_MEDIA_TYPES = ("image/jpeg", "image/png", "image/webp", "image/tiff") + (
    ("image/heic", "image/heif") if HEIF else ()
)
ACCEPTED_DESCRIPTION = "JPEG, PNG, WebP, TIFF or HEIC" if HEIF else "JPEG, PNG, WebP or TIFF"
# Results and their settings are written by us, in these formats only.
_RESULT_FORMATS = ("JPEG", "PNG", "WEBP")
THUMBNAIL_SIZE = (384, 384)


# Stored inputs keep at most this many pixels: twice the ~1 MP the Qwen-Image-Edit pipelines work at, so
# their own resize to ~1 MP always samples down, and the thumbnail and the page's comparison view get more
# than they show. 6 MiB of RGB per image instead of up to 120; exact-size output uses the upload's original
# size, which the job keeps.
STORED_INPUT_PIXELS = 2 * 1024 * 1024
# What ImageOps.exif_transpose does for each EXIF orientation; applied after shrinking, to the small image.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class DecodedImage:
    """An upload as we keep it: upright RGB (RGBA when it has alpha and alpha is kept) without metadata, and
    its (width, height) as sent, upright."""

    image: Image.Image
    original_size: tuple[int, int]

    @property
    def was_reduced(self) -> bool:
        return self.image.size != self.original_size


def decode_image(
    source: str | Path | BinaryIO, *, max_pixels: int, name: str = "image", keep_alpha: bool = False
) -> Image.Image:
    """Decode an untrusted image file into an upright RGB image with no metadata, at full size (RGBA when it
    has alpha and `keep_alpha`)."""
    return decode_upload(source, max_pixels=max_pixels, name=name, keep_alpha=keep_alpha).image


def decode_upload(
    source: str | Path | BinaryIO,
    *,
    max_pixels: int,
    fit_pixels: int | None = None,
    name: str = "image",
    keep_alpha: bool = False,
) -> DecodedImage:
    """Decode an untrusted image file, reduced to at most `fit_pixels` (same aspect) when given.

    The file is decoded once: JPEGs at the smallest 1/2, 1/4 or 1/8 scale that still covers the target
    (`draft`), other formats at full size and reduced at once, before any other full-size copy is made.
    `keep_alpha` (the model reads alpha: Qwen-Image-2.1): an image with alpha (RGBA, LA, a palette with
    transparency) comes back RGBA; otherwise, and always without it, RGB with transparency composited on white.
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
                orientation = opened.getexif().get(_EXIF_ORIENTATION, 1)
                target = fitted_size(opened.size, fit_pixels)
                if target != opened.size and opened.format == "JPEG":
                    opened.draft(None, target)  # never smaller than target
                opened.load()
                if opened.format == "TIFF" and opened.getexif().get(_EXIF_ORIENTATION, 1) != orientation:
                    # Pillow turns a TIFF upright as it loads it (and drops the tag): go by what it loaded.
                    orientation, (width, height) = 1, opened.size
                    target = fitted_size(opened.size, fit_pixels)
                alpha = keep_alpha and has_alpha(opened)
                image = _shrunk(opened, target, keep_alpha=alpha)
                upright = image.transpose(_ORIENTATION[orientation]) if orientation in _ORIENTATION else image
                original = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
                kept = to_rgba(upright) if alpha else to_rgb(upright)
                return DecodedImage(_without_metadata(kept), original)
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


def fitted_size(size: tuple[int, int], max_pixels: int | None) -> tuple[int, int]:
    """`size` scaled down (aspect kept) to at most `max_pixels`; unchanged when it fits or there is no cap."""
    width, height = size
    if max_pixels is None or width * height <= max_pixels:
        return size
    long, short = max(size), min(size)
    new_long = max(1, math.floor(long * math.sqrt(max_pixels / (width * height))))
    # Rounding the short side up keeps the aspect ratio within the original's, never beyond its limit.
    new_short = min(short, math.ceil(new_long * short / long))
    return (new_long, new_short) if width >= height else (new_short, new_long)


def _shrunk(image: Image.Image, size: tuple[int, int], *, keep_alpha: bool = False) -> Image.Image:
    if image.size == size:
        return image
    if image.mode not in ("RGB", "RGBA", "L", "LA"):  # palettes, 16-bit, CMYK: resample in RGB (RGBA: alpha kept)
        image = to_rgba(image) if keep_alpha else to_rgb(image)
    # reducing_gap: a box reduction by a whole factor first, then Lanczos over the last factor of 3 or less;
    # much faster than Lanczos over the whole range and, at 3, indistinguishable from it.
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _without_metadata(image: Image.Image) -> Image.Image:
    """Drop EXIF, XMP and text; keep only the colour profile, which says how the pixels look."""
    profile = image.info.get("icc_profile")
    image.info = {"icc_profile": profile} if profile else {}
    return image


def has_alpha(image: Image.Image) -> bool:
    """Whether the image carries alpha: RGBA, LA, or a palette with transparency."""
    return image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info)


def has_transparency(image: Image.Image) -> bool:
    """Whether any pixel is less than opaque: what flattening on white would change."""
    if not has_alpha(image):
        return False
    low = (image if image.mode in ("RGBA", "LA") else image.convert("RGBA")).getchannel("A").getextrema()[0]
    return isinstance(low, int | float) and low < 255


def to_rgba(image: Image.Image) -> Image.Image:
    """RGBA: alpha kept (opaque where the image has none), palettes and greys expanded."""
    return image.copy() if image.mode == "RGBA" else image.convert("RGBA")


def to_rgb(image: Image.Image) -> Image.Image:
    """Plain RGB: transparency is composited on white, palettes and greys expanded."""
    if image.mode == "RGB":
        return image.copy()
    if has_alpha(image):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


# zlib level 1 for every PNG we write: a photo-like ~1 MP result encodes in ~85 ms instead of ~480 ms at level 6,
# for ~17 % more bytes, so encoding stays well under the time of a few-step edit on a fast GPU. Levels 2-3 save
# only 1-4 % of that at up to 1.6x the time.
PNG_COMPRESS_LEVEL = 1
# WebP results: method 2 is ~1.7x faster than the default 4 for under 1 % more bytes at quality 95.
WEBP_METHOD = 2

SETTINGS_KEY = "qie-settings"  # the PNG text chunk holding the settings JSON
_EXIF_IFD, _USER_COMMENT = 0x8769, 0x9286
_ASCII_COMMENT = b"ASCII\0\0\0"  # EXIF's character-code prefix of a UserComment


def flattened_by(image: Image.Image, output_format: OutputFormat) -> bool:
    """Whether `encode_image` composites this image on white: JPEG has no alpha, and some pixel is not opaque."""
    return output_format is OutputFormat.JPEG and has_transparency(image)


def encode_image(image: Image.Image, output_format: OutputFormat, settings: Mapping[str, Any] | None = None) -> bytes:
    """Encode with our own settings and no metadata carried over from anywhere: only `settings`, when given
    (PNG: an iTXt chunk `qie-settings` with the JSON and an A1111-style `parameters` text; JPEG and WebP: the
    JSON as the EXIF UserComment). An image with alpha stays RGBA in PNG and WebP; JPEG flattens it on white."""
    buffer = io.BytesIO()
    clean = to_rgba(image) if has_alpha(image) and output_format is not OutputFormat.JPEG else to_rgb(image)
    if output_format is OutputFormat.PNG:
        extra: dict[str, Any] = {}
        if settings is not None:
            info = PngInfo()
            info.add_itxt(SETTINGS_KEY, json.dumps(settings, ensure_ascii=False))
            info.add_itxt("parameters", _parameters_text(settings))
            extra["pnginfo"] = info
        clean.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL, **extra)
    else:
        extra = {}
        if settings is not None:
            exif = Image.Exif()
            exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = _ASCII_COMMENT + json.dumps(settings).encode("ascii")
            extra["exif"] = exif.tobytes()
        if output_format is OutputFormat.JPEG:
            clean.save(buffer, format="JPEG", quality=95, subsampling=0, **extra)
        else:
            clean.save(buffer, format="WEBP", quality=95, method=WEBP_METHOD, **extra)
    return buffer.getvalue()


def read_embedded_settings(source: str | Path | BinaryIO) -> dict[str, Any] | None:
    """The settings a result file carries (see `encode_image`), or None."""
    with Image.open(source, formats=_RESULT_FORMATS) as opened:
        text = opened.info.get(SETTINGS_KEY) if opened.format == "PNG" else None
        if text is None:
            comment = opened.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT)
            if isinstance(comment, bytes) and comment.startswith(_ASCII_COMMENT):
                text = comment[len(_ASCII_COMMENT) :].decode("ascii")
        found = json.loads(text) if isinstance(text, str) else None
        return found if isinstance(found, dict) else None


def _parameters_text(settings: Mapping[str, Any]) -> str:
    """The "parameters" text other image tools (A1111, ComfyUI viewers, Civitai) read."""
    loras = "".join(f" <lora:{lora['name']}:{lora['weight']:g}>" for lora in settings.get("loras", []))
    return (
        f"{settings['prompt']}{loras}\nNegative prompt: {settings['negative_prompt'].strip()}\n"
        f"Steps: {settings['steps']}, CFG scale: {settings['guidance']:g}, Seed: {settings['seed']}, "
        f"Model: {settings['model']}" + (", Lightning: true" if settings.get("lightning") else "")
    )


def encode_stored_input(image: Image.Image) -> bytes:
    """The inputs we keep, as PNG at the same fast level as results: RGB, or RGBA when the image has alpha
    (the upload decoder keeps it only for models that read it)."""
    buffer = io.BytesIO()
    kept = image if image.mode in ("RGB", "RGBA") else to_rgba(image) if has_alpha(image) else to_rgb(image)
    kept.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def encode_stored_mask(mask: Image.Image) -> bytes:
    """A job's region mask as we keep it: greyscale PNG (255 = edit), nothing else carried over."""
    buffer = io.BytesIO()
    mask.convert("L").save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def make_thumbnail(image: Image.Image, output_format: OutputFormat | None = None) -> bytes:
    """A small WebP preview for galleries: with alpha when the image has it, unless the result it stands for
    is a JPEG (`output_format`), which has it flattened on white."""
    keep_alpha = has_alpha(image) and output_format is not OutputFormat.JPEG
    thumb = to_rgba(image) if keep_alpha else to_rgb(image)
    thumb.thumbnail(THUMBNAIL_SIZE, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="WEBP", quality=80)
    return buffer.getvalue()
