"""Live previews: a small picture of the result while it denoises, made without the VAE.

The Qwen-Image VAE's latent space is Wan 2.1's (16 channels, the same per-channel mean and std), so the
public 16x3 latent-to-RGB factors fitted for Wan 2.1 (the values of ComfyUI's `latent_formats.Wan21`) turn a
latent pixel into a colour with one small matrix product. Those factors are fitted in the normalised space
((z - mean) / std) that samplers work in, which is the space the diffusers pipeline's `latents` are in too,
so the packed latents are only unpacked (2x2 patches of 16 channels), not de-normalised.

The pipeline's `latents` are x_t, mostly noise early on; like ComfyUI, the preview shows the model's guess of
the clean result instead: with flow matching, x_t = x_0 + sigma_t * v, and v follows from two consecutive
steps of the Euler scheduler, so x_0 costs one more element-wise expression per preview.
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np
from PIL import Image

from qwen_image_editor.engine.base import PreviewImage, StepProgress

log = logging.getLogger(__name__)

WAN21_RGB_FACTORS = (
    (-0.1299, -0.1692, 0.2932),
    (0.0671, 0.0406, 0.0442),
    (0.3568, 0.2548, 0.1747),
    (0.0372, 0.2344, 0.1420),
    (0.0313, 0.0189, -0.0328),
    (0.0296, -0.0956, -0.0665),
    (-0.3477, -0.4059, -0.2925),
    (0.0166, 0.1902, 0.1975),
    (-0.0412, 0.0267, -0.1364),
    (-0.1293, 0.0740, 0.1636),
    (0.0680, 0.3019, 0.1128),
    (0.0032, 0.0581, 0.0639),
    (-0.1251, 0.0927, 0.1699),
    (0.0060, -0.0633, 0.0005),
    (0.3477, 0.2275, 0.2950),
    (0.1984, 0.0913, 0.1861),
)
WAN21_RGB_BIAS = (-0.1835, -0.0868, -0.3360)
LATENT_CHANNELS = 16

MAX_SIDE = 256  # pixels on the long side, at most
MIN_INTERVAL_SECONDS = 0.25  # at most 4 previews a second
MEDIA_TYPE = "image/webp"
_WEBP_QUALITY = 70  # ~3-6 KB at 128x128


class PreviewRate:
    """Lets a preview through at most once per `interval` seconds."""

    def __init__(self, interval: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = MIN_INTERVAL_SECONDS if interval is None else interval
        self._clock = clock
        self._last: float | None = None

    def due(self) -> bool:
        now = self._clock()
        if self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        return True


def encode_preview(rgb: np.ndarray) -> PreviewImage:
    """An (height, width, 3) uint8 picture as a small WebP, at most MAX_SIDE on its long side."""
    image = Image.fromarray(rgb, "RGB")
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", quality=_WEBP_QUALITY, method=0)
    return PreviewImage(media_type=MEDIA_TYPE, data=buffer.getvalue(), width=image.width, height=image.height)


def latent_grid(tokens: int, aspect_ratio: float) -> tuple[int, int]:
    """(rows, columns) of packed latent patches: the factorisation of `tokens` nearest to `aspect_ratio`
    (width / height). The pipeline rounds its size on its own, so the count is what we know for sure."""
    best = (1, tokens)
    best_error = math.inf
    for rows in range(1, math.isqrt(tokens) + 1):
        if tokens % rows:
            continue
        for r, c in ((rows, tokens // rows), (tokens // rows, rows)):
            error = abs(math.log(c / r) - math.log(aspect_ratio))
            if error < best_error:
                best, best_error = (r, c), error
    return best


class LatentPreviewer:
    """Turns the pipeline's packed latents, step by step, into at most ~4 previews a second."""

    def __init__(self, aspect_ratio: float, rate: PreviewRate | None = None) -> None:
        self.aspect_ratio = aspect_ratio
        self.rate = rate or PreviewRate()
        self._previous: Any = None  # the latents after the previous step (x_t at the previous sigma)
        self._grid: tuple[int, int] | None = None
        self._failed = False
        self._projection: tuple[Any, Any] | None = None  # (weights, bias) on the latents' device

    def attach(self, step: StepProgress, index: int, latents: Any, scheduler: Any) -> StepProgress:
        """`step`, with a preview when one is due. A preview never fails an edit: after an error the rest
        of this edit goes without."""
        if self._failed or latents is None:
            return step
        try:
            preview = self.after_step(index, latents, getattr(scheduler, "sigmas", None))
        except Exception:
            log.warning("live previews failed; this edit continues without them", exc_info=True)
            self._failed = True
            return step
        return step if preview is None else replace(step, preview=preview)

    def after_step(self, index: int, latents: Any, sigmas: Any) -> PreviewImage | None:
        """Call after step `index` (0-based) with the step's latents, (1, tokens, 64), and the scheduler's
        sigmas; returns a preview when one is due."""
        previous, self._previous = self._previous, latents
        if not self.rate.due():
            return None
        with _one_cpu_thread(latents):
            clean = self._estimate_clean(index, latents, previous, sigmas)
            return encode_preview(self._to_rgb(clean))

    @staticmethod
    def _estimate_clean(index: int, latents: Any, previous: Any, sigmas: Any) -> Any:
        if previous is None or sigmas is None or index + 1 >= len(sigmas):
            return latents
        sigma, sigma_next = float(sigmas[index]), float(sigmas[index + 1])
        if sigma == sigma_next:
            return latents
        # x0 = x_next - sigma_next * v with v = (x_next - x) / (sigma_next - sigma), in one fused operation
        import torch

        return torch.lerp(latents, previous, sigma_next / (sigma_next - sigma))

    def _to_rgb(self, latents: Any) -> np.ndarray:
        import torch

        _, tokens, packed = latents.shape
        if packed != LATENT_CHANNELS * 4:
            raise ValueError(f"expected packed latents with {LATENT_CHANNELS * 4} channels, got {packed}")
        if self._grid is None:
            self._grid = latent_grid(tokens, self.aspect_ratio)
        rows, cols = self._grid
        if self._projection is None or self._projection[0].device != latents.device:
            self._projection = _packed_projection(latents.device)
        weights, bias = self._projection
        # Project each packed token (16 channels x 2x2 pixels) to its 2x2 RGB pixels first, then undo the
        # packing on 12 numbers a token instead of 64: (rows*cols, 12) -> (rows*2, cols*2, 3).
        rgb = torch.addmm(bias, latents[0].float(), weights)
        rgb = rgb.view(rows, cols, 2, 2, 3).permute(0, 2, 1, 3, 4).reshape(rows * 2, cols * 2, 3)
        array: np.ndarray = rgb.add_(1).mul_(127.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()
        return array


@contextmanager
def _one_cpu_thread(latents: Any) -> Iterator[None]:
    """On the CPU, a few small operations on one thread: spread over a busy machine's cores, each one waits
    for the slowest core (measured: 1.5 ms on one thread, up to 50 ms on two busy ones). The model is not
    running meanwhile: this is its own step callback."""
    import torch

    if latents.device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _packed_projection(device: Any) -> tuple[Any, Any]:
    """The Wan 2.1 factors as a (64, 12) map from a packed token to its 2x2 RGB pixels, and its bias.
    Packed channel c*4 + k holds channel c of sub-pixel k (k = 2*dy + dx), as the pipelines pack them."""
    import torch

    factors = torch.tensor(WAN21_RGB_FACTORS, dtype=torch.float32)
    weights = torch.zeros(LATENT_CHANNELS, 4, 4, 3)
    for k in range(4):
        weights[:, k, k, :] = factors
    bias = torch.tensor(WAN21_RGB_BIAS, dtype=torch.float32).repeat(4)
    return weights.reshape(LATENT_CHANNELS * 4, 12).to(device), bias.to(device)
