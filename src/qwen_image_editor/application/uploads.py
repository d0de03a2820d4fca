"""Decoding uploads with bounded memory: a few at a time, each reduced to the size the service keeps.

A 40 MP upload decodes to 120-160 MB of pixels however small its file is, so the number of decodes at
once, not the number of requests, is what bounds the server's memory. Others wait briefly for a slot,
then get ServerBusy (503 with Retry-After).
"""

from __future__ import annotations

import threading
from typing import BinaryIO

from qwen_image_editor.errors import ServerBusy
from qwen_image_editor.imaging import STORED_INPUT_PIXELS, DecodedImage, decode_upload


class UploadDecoder:
    def __init__(
        self,
        *,
        max_pixels: int,
        max_concurrent: int,
        wait_seconds: float,
        fit_pixels: int = STORED_INPUT_PIXELS,
    ) -> None:
        self.max_pixels, self.fit_pixels = max_pixels, fit_pixels
        self.max_concurrent, self.wait_seconds = max_concurrent, wait_seconds
        self._slots = threading.BoundedSemaphore(max_concurrent)

    def decode(self, upload: BinaryIO, name: str) -> DecodedImage:
        """Decode one upload in a free slot (waiting up to `wait_seconds` for one); raises InvalidImage."""
        if not self._slots.acquire(timeout=self.wait_seconds):
            raise ServerBusy(
                f"the server is decoding {self.max_concurrent} large images already; try again in a few seconds"
            )
        try:
            return decode_upload(upload, max_pixels=self.max_pixels, fit_pixels=self.fit_pixels, name=name)
        finally:
            self._slots.release()
