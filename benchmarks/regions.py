"""`python -m benchmarks.regions`: a region edit on a big photo with the real tiny model (issue 20), as the worker
runs it: the pixels it changes outside the region (none, by construction, and counted here), and the time of
crop and stitch against the same edit on the whole photo.

A 4000x3000 photo-like image with a 200x150 region, the tiny 2511 twin on the CPU, 4 steps at the model's own
~1 MP working area. Run it on a quiet machine: the times are wall-clock.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from rich.console import Console
from rich.table import Table

from qwen_image_editor.edit_request import EditRequest
from qwen_image_editor.engine.devices import plan_device
from qwen_image_editor.engine.diffusers_engine import DiffusersEngine
from qwen_image_editor.engine.fake import photo_like
from qwen_image_editor.engine.models import resolve_model
from qwen_image_editor.model_families import FAMILIES, ModelFamily
from qwen_image_editor.regions import RegionEdit, plan_region, soft_mask, working_size

PHOTO = (4000, 3000)
REGION = (1900, 1400, 2100, 1550)  # 200x150 near the middle
STEPS = 4
ROUNDS = 2  # the faster of two runs each


def main() -> int:
    console = Console()
    photo = photo_like(PHOTO, seed=1)
    mask = Image.new("L", PHOTO, 0)
    ImageDraw.Draw(mask).rectangle((REGION[0], REGION[1], REGION[2] - 1, REGION[3] - 1), fill=255)
    request = EditRequest(prompt="put a red kite in the sky", num_inference_steps=STEPS, seed=3)
    soft = soft_mask(mask, grow_px=request.mask_grow, feather_px=request.mask_feather)
    capabilities = FAMILIES[ModelFamily.EDIT_2511]
    plan = plan_region(soft, capabilities)
    with tempfile.TemporaryDirectory() as models:
        engine = DiffusersEngine(resolve_model("tiny", Path(models)), plan_device("cpu"))
        engine.load()
        size = f"{REGION[2] - REGION[0]}x{REGION[3] - REGION[1]}"
        table = Table(title=f"A {size} region of a {PHOTO[0]}x{PHOTO[1]} photo, tiny 2511, {STEPS} steps, CPU")
        for column in (
            "run",
            "model works on",
            "working size",
            "best s",
            "changed outside",
            "changed inside",
            "result size",
        ):
            table.add_column(column)
        runs = {"crop and stitch": plan.crop_box, "whole photo": None}
        # What the job records (crop and stitch: its plan) and the engine draws at: the same rule on what it gets.
        drawn = {"crop and stitch": plan.working_size, "whole photo": working_size(PHOTO, capabilities)}
        for crop_box in runs.values():  # warm: the first edit at a size pays its one-off costs
            image, part = RegionEdit(photo, soft, crop_box).for_the_model()
            engine.edit([image], request, region=part)
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        results = {}
        for _ in range(ROUNDS):  # alternated, so a busy spell of the machine falls on both
            for name, crop_box in runs.items():
                region = RegionEdit(photo, soft, crop_box)
                started = time.perf_counter()
                image, part = region.for_the_model()
                results[name] = region.put_back(engine.edit([image], request, region=part).image)
                seconds[name].append(time.perf_counter() - started)
        outside = np.asarray(soft) == 0
        for name, crop_box in runs.items():
            result = results[name]
            changed = np.any(np.asarray(result) != np.asarray(photo), axis=-1)
            where = f"crop {crop_box}" if crop_box else "the whole photo"
            table.add_row(
                name,
                where,
                f"{drawn[name][0]}x{drawn[name][1]}",
                f"{min(seconds[name]):.1f}",
                f"{int(changed[outside].sum()):,} of {int(outside.sum()):,}",
                f"{int(changed[~outside].sum()):,} of {int((~outside).sum()):,}",
                f"{result.width}x{result.height}",
            )
        console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
