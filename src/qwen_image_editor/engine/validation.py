"""Input checks that run before any model work, with errors that say what to change."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from qwen_image_editor.edit_request import MAX_ASPECT_RATIO, MIN_IMAGE_SIDE
from qwen_image_editor.errors import InvalidRequest
from qwen_image_editor.model_families import DEFAULT_FAMILY, FAMILIES, Capabilities


def validate_images(images: Sequence[Image.Image], capabilities: Capabilities = FAMILIES[DEFAULT_FAMILY]) -> None:
    problem = capabilities.image_count_problem(len(images))
    if problem is not None:
        raise InvalidRequest(problem)
    validate_sizes([image.size for image in images])


def validate_sizes(sizes: Sequence[tuple[int, int]]) -> None:
    """The same checks on (width, height) pairs, e.g. the sizes of uploads as sent."""
    for number, (width, height) in enumerate(sizes, start=1):
        if min(width, height) < MIN_IMAGE_SIDE:
            raise InvalidRequest(
                f"image {number} is {width}x{height}; each side must be at least {MIN_IMAGE_SIDE} pixels"
            )
        if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
            raise InvalidRequest(
                f"image {number} is {width}x{height}, an aspect ratio beyond {MAX_ASPECT_RATIO:g}:1; "
                "crop it closer to square"
            )
