"""Decoding uploads with bounded memory: a few at a time, each reduced to the size the service keeps.

A 40 MP upload decodes to 120-160 MB of pixels however small its file is, so the number of decodes at
once, not the number of requests, is what bounds the server's memory. Others wait briefly for a slot,
then get ServerBusy (503 with Retry-After).

Decodes run on a pool of exactly that many threads, not on the request's own: glibc gives each thread
its own malloc arena and keeps what a thread freed for its next use, so large decodes spread over the
request threadpool's 40 threads left several hundred MB resident after them (eight 40 MP uploads at
once: +856 MiB peak RSS, against +403 MiB on two threads).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, TypeVar

from PIL import Image

from qwen_image_editor.errors import ServerBusy
from qwen_image_editor.imaging import STORED_INPUT_PIXELS, DecodedImage, decode_upload
from qwen_image_editor.regions import MaskMeaning, parse_mask

T = TypeVar("T")


class UploadDecoder:
    def __init__(
        self,
        *,
        max_pixels: int,
        max_concurrent: int,
        wait_seconds: float,
        fit_pixels: int = STORED_INPUT_PIXELS,
        keep_alpha: bool = False,
    ) -> None:
        self.max_pixels, self.fit_pixels = max_pixels, fit_pixels
        self.keep_alpha = keep_alpha  # the model reads alpha (Qwen-Image-2.1): RGBA uploads stay RGBA
        self.max_concurrent, self.wait_seconds = max_concurrent, wait_seconds
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._threads = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="qie-decode")

    def decode(self, upload: BinaryIO, name: str, *, full_size: bool = False) -> DecodedImage:
        """Decode one upload in a free slot (waiting up to `wait_seconds` for one); raises InvalidImage.
        `full_size`: not reduced (image 1 of a masked job, whose pixels outside the region come back exactly)."""
        fit_pixels = None if full_size else self.fit_pixels
        return self._in_a_slot(
            lambda: decode_upload(
                upload, max_pixels=self.max_pixels, fit_pixels=fit_pixels, name=name, keep_alpha=self.keep_alpha
            )
        )

    def decode_mask(self, upload: BinaryIO, size: tuple[int, int], meaning: MaskMeaning) -> Image.Image:
        """A region mask as an L mask at image 1's `size` (see `regions.parse_mask`); raises InvalidRequest."""
        return self._in_a_slot(
            lambda: parse_mask(upload.read(), size, meaning=meaning, max_pixels=self.max_pixels, name="mask")
        )

    def _in_a_slot(self, decode: Callable[[], T]) -> T:
        if not self._slots.acquire(timeout=self.wait_seconds):
            raise ServerBusy(
                f"the server is decoding {self.max_concurrent} large images already; try again in a few seconds"
            )
        try:
            return self._threads.submit(decode).result()
        finally:
            self._slots.release()

    def close(self) -> None:
        """Let the decoding threads go (a decode under way finishes first)."""
        self._threads.shutdown(wait=False)
