"""Engine timings on the tiny model: one 4-step edit at 256² and at the pipelines' own ~1 megapixel size."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit, pipeline_qwenimage_edit_plus

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.factory import build_engine
from qwen_image_editor.settings import Settings

SMALL_AREA = 256 * 256


def _aim_at(area: int | None) -> None:
    """Point the pipelines at `area` pixels (None: their own ~1 MP), as the tests' speed-up does."""
    for module in (pipeline_qwenimage_edit, pipeline_qwenimage_edit_plus):
        original = getattr(module, "_qie_original_dimensions", module.calculate_dimensions)
        module._qie_original_dimensions = original  # type: ignore[attr-defined]
        module.calculate_dimensions = (
            original
            if area is None
            # type: ignore[assignment]
            else (lambda target, ratio, original=original: original(min(target, area), ratio))
        )
    pipeline_qwenimage_edit_plus.VAE_IMAGE_SIZE = area or 1024 * 1024


def engine_timings(images: list[object], repeats: int = 2) -> list[tuple[str, str, str]]:
    rows = []
    with tempfile.TemporaryDirectory() as data_dir:
        for model in ("tiny", "tiny-edit"):
            engine = build_engine(Settings(model=model, data_dir=Path(data_dir)))
            started = time.perf_counter()
            engine.load()
            rows.append((model, "build + load", f"{time.perf_counter() - started:.2f}"))
            for label, area in (("4-step edit at 256²", SMALL_AREA), ("4-step edit at ~1 MP", None)):
                _aim_at(area)
                best = float("inf")
                for seed in range(repeats):
                    started = time.perf_counter()
                    result = engine.edit(images, EditRequest(prompt="make it snow", num_inference_steps=4, seed=seed))  # type: ignore[arg-type]
                    best = min(best, time.perf_counter() - started)
                rows.append((model, f"{label} -> {result.image.width}x{result.image.height}", f"{best:.2f}"))
    _aim_at(None)
    return rows
