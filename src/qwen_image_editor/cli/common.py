"""Helpers shared by the commands: settings with CLI overrides, and the way errors end a command."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Column

from qwen_image_editor.errors import describe_problems
from qwen_image_editor.settings import Settings

console = Console()
err_console = Console(stderr=True)

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2  # as for a usage error: the user must change the command


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and `.env`, with the command line's explicit values on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        fail(f"invalid settings: {describe_problems(exc.errors())}", EXIT_BAD_INPUT)


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


DataDirOption = typer.Option(
    None, "--data-dir", help="Data directory (database, jobs, tiny model). Default: $QIE_DATA_DIR or ./data"
)
ModelOption = typer.Option(
    None,
    "--model",
    "-m",
    help="Hugging Face id (e.g. Qwen/Qwen-Image-2.1), local diffusers folder, `tiny`, `tiny-2509`, `tiny-edit`, "
    "`tiny-2.1` or `auto`. Default: $QIE_MODEL or auto",
)


def demo_warning(model_id: str) -> None:
    err_console.print(
        f"[bold yellow]warning:[/] model '{model_id}' has RANDOM weights: outputs are noise. "
        "Use a real model (e.g. --model Qwen/Qwen-Image-Edit-2511 on a GPU) for real edits.",
        highlight=False,
    )


def resolve_path(path: Path | None) -> Path | None:
    return path.expanduser() if path is not None else None


def job_id_column(header: str) -> Column:
    """A table column of job ids: never wrapped or cut on a narrow terminal, since people copy them."""
    return Column(header, no_wrap=True, min_width=36)
