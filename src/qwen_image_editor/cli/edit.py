"""`qie edit`: one edit, no server; writes the result or nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer
from PIL import Image
from pydantic import ValidationError
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from qwen_image_editor.cli import app
from qwen_image_editor.cli.common import (
    EXIT_BAD_INPUT,
    DataDirOption,
    ModelOption,
    console,
    demo_warning,
    fail,
    load_settings,
    resolve_path,
)
from qwen_image_editor.edit_request import (
    MAX_LORAS,
    MAX_STEPS,
    MIN_STEPS,
    EditRequest,
    LoraChoice,
    OutputFormat,
    parse_request,
)
from qwen_image_editor.engine.base import StepProgress
from qwen_image_editor.engine.capabilities import capabilities_of
from qwen_image_editor.engine.factory import build_engine
from qwen_image_editor.errors import InvalidRequest, ModelUnavailable, OutOfMemory, describe_problems
from qwen_image_editor.fileio import write_atomic
from qwen_image_editor.imaging import decode_image, encode_image
from qwen_image_editor.model_families import FAMILIES, Capabilities
from qwen_image_editor.regions import MaskMeaning, RegionEdit, parse_mask, plan_region, soft_mask


def _image_counts() -> str:
    """How many images each model takes, from the model families (e.g. `1-3 for Qwen-Image-Edit-2509, ...`)."""
    models_by_count: dict[str, list[str]] = {}
    for capabilities in FAMILIES.values():
        low, high = capabilities.min_images, capabilities.max_images
        count = str(high) if low == high else f"{low}-{high}"
        models_by_count.setdefault(count, []).append(capabilities.name)
    return "; ".join(f"{count} for {', '.join(names)}" for count, names in models_by_count.items())


_OPTION_BY_FIELD = {
    "prompt": "--prompt",
    "negative_prompt": "--negative-prompt",
    "true_cfg_scale": "--cfg",
    "num_inference_steps": "--steps",
    "seed": "--seed",
    "loras": "--lora",
}


def _parse_lora(text: str) -> LoraChoice:
    """`NAME` or `NAME:WEIGHT`."""
    name, _, weight = text.partition(":")
    try:
        value = float(weight) if weight else 1.0
    except ValueError:
        fail(f"--lora {text}: the weight after ':' must be a number, e.g. {name}:0.8", EXIT_BAD_INPUT)
    return LoraChoice(name=name, weight=value)


def _region(
    mask: Path, images: list[Image.Image], request: EditRequest, capabilities: Capabilities, max_pixels: int
) -> RegionEdit:
    """The masked edit of image 1, planned as the server plans it (crop and stitch for a small region)."""
    if not images:
        fail("a mask marks where to edit image 1: give image 1 too", EXIT_BAD_INPUT)
    if not mask.is_file():
        fail(f"{mask} does not exist or is not a file", EXIT_BAD_INPUT)
    try:
        parsed = parse_mask(mask.read_bytes(), images[0].size, meaning=MaskMeaning.OPAQUE_EDITS, max_pixels=max_pixels)
    except InvalidRequest as exc:
        fail(f"--mask {mask}: {exc}", EXIT_BAD_INPUT)
    soft = soft_mask(parsed, grow_px=request.mask_grow, feather_px=request.mask_feather)
    return RegionEdit(images[0], soft, plan_region(soft, capabilities).crop_box)


@app.command()
def edit(
    images: list[Path] | None = typer.Argument(
        None,
        help="The input images (JPEG, PNG or WebP), as many as the model takes "
        f"({_image_counts()}). The output follows the last one's aspect.",
    ),
    prompt: str = typer.Option(..., "--prompt", "-p", help="The edit instruction, e.g. 'make the sky stormy'."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the result."),
    model: str | None = ModelOption,
    steps: int | None = typer.Option(
        None, "--steps", help=f"Denoising steps ({MIN_STEPS}-{MAX_STEPS}). Default: the model's."
    ),
    cfg: float | None = typer.Option(
        None, "--cfg", help="True CFG scale; 1 turns guidance off. Default and range: the model's."
    ),
    negative_prompt: str = typer.Option(" ", "--negative-prompt", "-n", help="What to steer away from."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for reproducible output; random if omitted."),
    output_format: OutputFormat | None = typer.Option(
        None, "--format", "-f", help="png, jpeg or webp. Default: from the output's extension, else png."
    ),
    keep_input_size: bool = typer.Option(
        False, "--keep-input-size", help="Return the result at the exact size of the last input image."
    ),
    lightning: bool = typer.Option(
        False, "--lightning", help="Run the model's few-step Lightning LoRA: 8 steps (4 with --steps 4), no guidance."
    ),
    lora: list[str] = typer.Option(
        [], "--lora", help=f"A LoRA from <data>/loras/ as NAME or NAME:WEIGHT (repeat for up to {MAX_LORAS})."
    ),
    mask: Path | None = typer.Option(
        None, "--mask", help="Edit only where this image is white (at image 1's size); every other pixel stays exact."
    ),
    mask_grow: int | None = typer.Option(None, "--mask-grow", help="Pixels to grow the mask by (default 8)."),
    mask_feather: int | None = typer.Option(None, "--mask-feather", help="Pixels to blend over (default 16)."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Edit images with an instruction (or, with a model that can, make one from the instruction alone) and
    write the result. Nothing is written on failure."""
    images = images or []
    settings = load_settings(model=model, data_dir=resolve_path(data_dir))
    capabilities = capabilities_of(settings.model, settings.models_dir)
    fields: dict[str, object] = {
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "seed": seed,
        "output_format": output_format or OutputFormat.named(output.suffix) or OutputFormat.PNG,
        "keep_input_size": keep_input_size,
        "lightning": lightning,
        "loras": [_parse_lora(text) for text in lora],
    }
    if mask_grow is not None:
        fields["mask_grow"] = mask_grow
    if mask_feather is not None:
        fields["mask_feather"] = mask_feather
    if steps is not None:
        fields["num_inference_steps"] = steps
    if cfg is not None:
        fields["true_cfg_scale"] = cfg
    try:
        request = parse_request(fields, capabilities)
    except ValidationError as exc:
        fail(describe_problems(exc.errors(), _OPTION_BY_FIELD, "request"), EXIT_BAD_INPUT)
    problem = capabilities.image_count_problem(len(images))
    if problem is not None:
        fail(problem, EXIT_BAD_INPUT)
    if not output.parent.resolve().is_dir():
        fail(f"the output folder {output.parent} does not exist; create it first", EXIT_BAD_INPUT)

    decoded = []
    for path in images:
        if not path.is_file():
            fail(f"{path} does not exist or is not a file", EXIT_BAD_INPUT)
        try:
            decoded.append(
                decode_image(path, max_pixels=settings.max_image_pixels, name=str(path), keep_alpha=capabilities.alpha)
            )
        except InvalidRequest as exc:
            fail(str(exc), EXIT_BAD_INPUT)
    region = None if mask is None else _region(mask, decoded, request, capabilities, settings.max_image_pixels)
    region_mask = None
    if region is not None:  # as the worker does: the model gets image 1 (or its crop) and the mask at that size
        first, region_mask = region.for_the_model()
        decoded = [first, *decoded[1:]]

    engine = build_engine(settings)
    if engine.is_demo:
        demo_warning(engine.model_id)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("step {task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(f"Loading {engine.model_id}", total=request.num_inference_steps)

        def on_step(step: StepProgress) -> None:
            progress.update(task, completed=step.step, description="Editing")

        try:
            engine.load()
            progress.update(task, description="Editing")
            result = engine.edit(
                decoded,
                request,
                on_step=on_step,
                output_size=None if region_mask is None else region_mask.size,
                region=region_mask,
            )
        except InvalidRequest as exc:
            fail(str(exc), EXIT_BAD_INPUT)
        except (ModelUnavailable, OutOfMemory) as exc:
            fail(str(exc))
    if region is not None:
        result = replace(result, image=region.put_back(result.image))
    write_atomic(output, encode_image(result.image, request.output_format))
    console.print(
        f"Wrote {output} ({result.image.width}x{result.image.height} {request.output_format.value}) "
        f"in {result.seconds:.1f}s, seed {result.seed}, {request.num_inference_steps} steps"
        + (" (Lightning)" if request.lightning else ""),
        highlight=False,
    )
