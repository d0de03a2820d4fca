"""Qwen-Image-2.1's prefix KV cache on its tiny twin: seconds per denoising step with 3 references, cache on and off.

`python -m benchmarks.kv_cache_21 [--steps 6] [--resolution 1024] [--repeats 2]`. The first step runs the text
and the references either way (with the cache it also stores their keys and values), so it is reported apart
from the later steps, where the cache leaves only the target image's tokens to run. A measurement, not a test:
the tiny model's widths are not the real one's, so only the ratio says something, and little about a GPU.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from qwen_image_editor.engine.tiny_model import TinyFlavour, make_tiny_model


def _references(resolution: int) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    sizes = [(resolution, resolution), (resolution * 3 // 4, resolution), (resolution, resolution * 3 // 4)]
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]


def step_seconds(pipeline: Any, use_kv_cache: bool, steps: int, resolution: int) -> tuple[float, float]:
    """(first step, median of the later steps) in seconds, timed between step callbacks."""
    import torch

    marks: list[float] = []

    def on_step(pipe: Any, index: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        marks.append(time.perf_counter())
        return tensors

    # The first step is timed from the transformer's first call, so text encoding and VAE encoding are left out.
    started: list[float] = []

    def on_transformer(*_: Any) -> None:
        started.append(time.perf_counter())

    hook = pipeline.transformer.register_forward_pre_hook(on_transformer)
    try:
        pipeline(
            prompt="<image1> wears the hat of <image2> in the room of <image3>",
            image=_references(resolution),
            num_inference_steps=steps,
            generator=torch.Generator().manual_seed(0),
            callback_on_step_end=on_step,
            output_resolution=resolution,
            use_kv_cache=use_kv_cache,
            output_type="latent",  # the VAE decode is the same either way
        )
    finally:
        hook.remove()
    later = [b - a for a, b in itertools.pairwise(marks)]
    return marks[0] - started[0], statistics.median(later)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--resolution", type=int, default=1024, help="output_resolution (1024: the published one)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each setting; the fastest counts")
    args = parser.parse_args()

    import torch
    from diffusers import DiffusionPipeline

    print(
        f"tiny-2.1, 3 references and output at ~{args.resolution}² px, {args.steps} steps, "
        f"{torch.get_num_threads()} CPU threads, best of {args.repeats}"
    )
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        model = make_tiny_model(Path(folder) / "tiny-2.1", TinyFlavour.QWEN_IMAGE_21)
        pipeline = DiffusionPipeline.from_pretrained(model, dtype=torch.float32)
        pipeline.set_progress_bar_config(disable=True)
        for use_kv_cache in (True, False):
            runs = [step_seconds(pipeline, use_kv_cache, args.steps, args.resolution) for _ in range(args.repeats)]
            results[use_kv_cache] = (min(run[0] for run in runs), min(run[1] for run in runs))
            first, later = results[use_kv_cache]
            print(f"use_kv_cache={use_kv_cache!s:5}  first step {first:.3f} s   later steps {later:.3f} s/step")
    print(f"later steps with the cache take {results[True][1] / results[False][1]:.2f}x the time without it")


if __name__ == "__main__":
    main()
