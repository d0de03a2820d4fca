"""`qie doctor`: what this machine offers and what the service would do on it."""

from __future__ import annotations

import platform
import shutil
from importlib.metadata import version
from pathlib import Path

from rich.table import Table

from qwen_image_editor.cli import app
from qwen_image_editor.cli.common import DataDirOption, ModelOption, console, load_settings, resolve_path
from qwen_image_editor.engine.devices import cuda_available, gpu_summary
from qwen_image_editor.engine.models import ModelSourceKind, resolve_auto, resolve_model
from qwen_image_editor.settings import DEFAULT_MODEL


def _cached(model_id: str, cache_dir: Path | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model_id, "model_index.json", cache_dir=cache_dir)
    return isinstance(found, str)


@app.command()
def doctor(model: str | None = ModelOption, data_dir: Path | None = DataDirOption) -> None:
    """Report Python, torch, CUDA and GPU memory, the model cache, free disk, and what `auto` would choose."""
    import torch
    from huggingface_hub import constants

    settings = load_settings(model=model, data_dir=resolve_path(data_dir))
    has_cuda = cuda_available()
    cache_dir = settings.hf_home / "hub" if settings.hf_home else Path(constants.HF_HUB_CACHE)
    chosen = resolve_model(resolve_auto(settings.model, has_cuda and settings.device != "cpu"), settings.models_dir)
    disk_root = settings.data_dir if settings.data_dir.exists() else Path.cwd()
    free_gib = shutil.disk_usage(disk_root).free / 2**30

    table = Table(title="qie doctor", show_header=False)
    table.add_row("Python", platform.python_version())
    for package in ("torch", "torchvision", "diffusers", "transformers"):
        table.add_row(package, version(package))
    table.add_row("CUDA", f"yes ({torch.version.cuda})" if has_cuda else "no: edits run on the CPU (slow)")
    for line in gpu_summary():
        table.add_row("GPU", line)
    table.add_row("Hugging Face cache", str(cache_dir))
    table.add_row(f"{DEFAULT_MODEL} cached", "yes" if _cached(DEFAULT_MODEL, cache_dir) else "no (needs a download)")
    table.add_row("Data directory", f"{settings.data_dir.resolve()} ({free_gib:.1f} GiB free)")
    table.add_row("Configured model", settings.model)
    table.add_row(
        "Would use",
        f"{chosen.name} ({chosen.kind.value}{', RANDOM weights: outputs are noise' if chosen.is_demo else ''})",
    )
    if chosen.kind is ModelSourceKind.HUB and not _cached(chosen.location, cache_dir):
        table.add_row("Note", f"{chosen.name} is not cached; the first job downloads it (~58 GB)")
    table.add_row("Service", f"http://{settings.host}:{settings.port}/")
    console.print(table)
