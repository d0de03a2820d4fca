"""What encoding a result costs on one core, per megapixel, and how large the files are: the service's own
`encode_image` and `make_thumbnail` on photo-like results of ~1 and ~2 MP, against PNG at zlib level 6 (what
results used before). Best of 3, in this thread. Run alone: `python -m benchmarks.encoding`.
"""

from __future__ import annotations

import functools
import io
import time
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from qwen_image_editor.edit_request import EditRequest, OutputFormat, embedded_settings
from qwen_image_editor.engine.fake import model_size, photo_like
from qwen_image_editor.imaging import encode_image, make_thumbnail

AREAS = (1024 * 1024, 2 * 1024 * 1024)
ASPECT = 4 / 3


@dataclass(frozen=True)
class Row:
    what: str
    megapixels: float
    ms_per_mp: float
    kib: float


def _best_of(encode: Callable[[], bytes], repeats: int = 3) -> tuple[float, int]:
    timings, size = [], 0
    for _ in range(repeats):
        began = time.perf_counter()
        size = len(encode())
        timings.append(time.perf_counter() - began)
    return min(timings), size


def _png_level_6(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def measure() -> list[Row]:
    settings = embedded_settings(EditRequest(prompt="make the sky stormy", seed=1), seed=1, model="fake")
    rows = []
    for area in AREAS:
        image = photo_like(model_size(ASPECT, area), seed=1)
        megapixels = image.width * image.height / 1e6
        cases: dict[str, Callable[[], bytes]] = {
            "PNG level 6 (before)": functools.partial(_png_level_6, image),
            "PNG result": functools.partial(encode_image, image, OutputFormat.PNG, settings),
            "WebP result": functools.partial(encode_image, image, OutputFormat.WEBP, settings),
            "JPEG result": functools.partial(encode_image, image, OutputFormat.JPEG, settings),
            "thumbnail (WebP)": functools.partial(make_thumbnail, image),
        }
        for what, encode in cases.items():
            seconds, size = _best_of(encode)
            rows.append(
                Row(f"{what}, {image.width}x{image.height}", megapixels, 1000 * seconds / megapixels, size / 1024)
            )
    return rows


def main() -> None:
    for row in measure():
        print(f"{row.what}: {row.ms_per_mp:.0f} ms/MP, {row.kib:.0f} KiB")


if __name__ == "__main__":
    main()
