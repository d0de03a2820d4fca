"""`qie make-tiny-model`: the random-weight offline model for tests and demos."""

from __future__ import annotations

from pathlib import Path

import typer

from qwen_image_editor.cli import app
from qwen_image_editor.cli.common import EXIT_BAD_INPUT, DataDirOption, console, fail, load_settings, resolve_path
from qwen_image_editor.engine.tiny_model import TinyFlavour, make_tiny_model


@app.command("make-tiny-model")
def make_tiny_model_command(
    folder: Path = typer.Argument(..., help="New folder to write the pipeline to (diffusers layout)."),
    flavour: TinyFlavour = typer.Option(
        TinyFlavour.EDIT_PLUS,
        "--flavour",
        help="edit-plus (like 2509: 1-3 images), edit-2511, edit (the original) or 2.1 (Qwen-Image-2.1: "
        "text alone or 1-10 references, RGBA).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the random weights; the same seed builds the same model."),
) -> None:
    """Write a tiny Qwen-Image-Edit or Qwen-Image-2.1 pipeline with RANDOM weights (outputs are noise), offline."""
    try:
        make_tiny_model(folder, flavour, seed)
    except FileExistsError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    console.print(f"Wrote a tiny {flavour.value} pipeline with random weights to {folder}; its outputs are noise.")


@app.command("make-tiny-lora")
def make_tiny_lora_command(
    file: Path = typer.Argument(..., help="The .safetensors file to write, e.g. data/loras/demo.safetensors."),
    rank: int = typer.Option(4, "--rank", min=1, max=64, help="The LoRA's rank."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random weights."),
) -> None:
    """Write a random LoRA that fits the tiny models (for tests and demos: it changes their noise)."""
    from qwen_image_editor.engine.loras import SUFFIX, make_tiny_lora

    if file.suffix != SUFFIX:
        fail(f"{file}: LoRA files end in {SUFFIX}", EXIT_BAD_INPUT)
    make_tiny_lora(file, rank=rank, seed=seed)
    console.print(f"Wrote a random rank-{rank} LoRA for the tiny models to {file}")


@app.command("make-tiny-gguf")
def make_tiny_gguf_command(
    file: Path = typer.Argument(..., help="The .gguf file to write (use it with QIE_MEMORY=gguf QIE_GGUF=FILE)."),
    model: str = typer.Option("tiny", "--model", help="tiny, tiny-2509, tiny-edit or tiny-2.1: whose transformer."),
    quant: str = typer.Option("Q8_0", "--quant", help="A GGUF quant type diffusers reads: Q8_0, Q5_0, Q4_0, ..."),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Write the tiny model's transformer as a GGUF file, offline."""
    from qwen_image_editor.engine.gguf import make_tiny_gguf
    from qwen_image_editor.engine.models import TINY_NAMES, ensure_tiny_model, resolve_model

    if model not in TINY_NAMES:
        fail(f"--model must be one of {', '.join(TINY_NAMES)}", EXIT_BAD_INPUT)
    settings = load_settings(data_dir=resolve_path(data_dir))
    folder = ensure_tiny_model(resolve_model(model, settings.models_dir))
    try:
        make_tiny_gguf(folder, file, quant.upper())
    except KeyError:
        fail(f"unknown GGUF quant type {quant}", EXIT_BAD_INPUT)
    console.print(f"Wrote {model}'s transformer as {quant.upper()} GGUF to {file}")
