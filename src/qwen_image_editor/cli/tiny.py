"""`qie make-tiny-model`: the random-weight offline model for tests and demos."""

from __future__ import annotations

from pathlib import Path

import typer

from qwen_image_editor.cli import app
from qwen_image_editor.cli.common import EXIT_BAD_INPUT, console, fail
from qwen_image_editor.engine.tiny_model import TinyFlavour, make_tiny_model


@app.command("make-tiny-model")
def make_tiny_model_command(
    folder: Path = typer.Argument(..., help="New folder to write the pipeline to (diffusers layout)."),
    flavour: TinyFlavour = typer.Option(
        TinyFlavour.EDIT_PLUS,
        "--flavour",
        help="edit-plus (like 2509/2511: 1-3 images) or edit (the original).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the random weights; the same seed builds the same model."),
) -> None:
    """Write a tiny Qwen-Image-Edit pipeline with RANDOM weights (outputs are noise), built offline."""
    try:
        make_tiny_model(folder, flavour, seed)
    except FileExistsError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    console.print(f"Wrote a tiny {flavour.value} pipeline with random weights to {folder}; its outputs are noise.")
