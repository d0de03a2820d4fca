"""`qie doctor`: what this machine offers and what the service would do on it."""

from __future__ import annotations

import json
import platform
import shutil
from importlib.metadata import version
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from qwen_image_editor.cli import app
from qwen_image_editor.cli.common import DataDirOption, ModelOption, console, load_settings, resolve_path
from qwen_image_editor.engine.devices import DevicePlan, cuda_available, gpu_summary
from qwen_image_editor.engine.memory import BF16, USABLE_SHARE, MemoryPlan, bitsandbytes_installed
from qwen_image_editor.engine.model_size import model_size
from qwen_image_editor.engine.models import ModelSource, ModelSourceKind, resolve_auto, resolve_model
from qwen_image_editor.engine.placement import MemoryOptions, attention_backends, compile_available, resolve_plan
from qwen_image_editor.settings import DEFAULT_MODEL, Settings


def _cached(model_id: str, cache_dir: Path | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model_id, "model_index.json", cache_dir=cache_dir)
    return isinstance(found, str)


def memory_report(
    settings: Settings, source: ModelSource, cache_dir: Path | None, gpu_memory: float | None
) -> dict[str, Any]:
    """The plan `auto` (or QIE_MEMORY) takes on this GPU, or on a GPU with `gpu_memory` GB free, and why."""
    options = MemoryOptions(plan=MemoryPlan(settings.memory_plan), gguf=settings.gguf)
    if gpu_memory is None and not cuda_available():
        return {
            "gpu_memory_gb": None,
            "memory_plan": {
                "name": MemoryPlan.FULL.value,
                "estimated_peak_gb": None,
                "reason": "no CUDA GPU: the model stays in RAM, in float32 "
                "(`qie doctor --gpu-memory GB` shows the plan for a GPU that is not here)",
            },
            "plans": [],
        }
    if gpu_memory is None:
        import torch

        gpu_memory = torch.cuda.mem_get_info()[0] / 1e9
    choice = resolve_plan(options, DevicePlan("cuda", "bfloat16"), source, cache_dir, free_gb=gpu_memory)
    size = model_size(source, cache_dir)
    usable = gpu_memory * USABLE_SHARE
    return {
        "gpu_memory_gb": round(gpu_memory, 1),
        "model_size": {
            "source": size.source,
            "transformer_params": size.transformer.params,
            "text_encoder_params": size.text_encoder.params,
            "vae_params": size.vae.params,
        },
        "memory_plan": {
            "name": choice.plan.value,
            "estimated_peak_gb": choice.peak_gb,
            "reason": choice.reason,
            "requested": settings.memory_plan,
        },
        "plans": [
            {
                "name": e.plan.value,
                "estimated_peak_gb": e.peak_gb,
                "available": e.available,
                "fits": e.available and e.peak_gb <= usable,
                "note": e.note,
            }
            for e in choice.estimates
        ],
    }


def speed_report(has_cuda: bool) -> dict[str, Any]:
    can_compile, compile_note = compile_available(has_cuda)
    return {
        "attention_backends": attention_backends(),
        "compile": {"available": can_compile, "note": compile_note},
        "bitsandbytes": bitsandbytes_installed(),
    }


@app.command()
def doctor(
    model: str | None = ModelOption,
    data_dir: Path | None = DataDirOption,
    gpu_memory: float | None = typer.Option(
        None, "--gpu-memory", min=1, help="Plan for a GPU with this many GB free, present or not (e.g. 48)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the table."),
) -> None:
    """Report Python, torch, CUDA and GPU memory, the model cache, free disk, what `auto` would choose, and the
    memory plan (with every plan's estimated peak) and speed switches it would use."""
    import torch
    from huggingface_hub import constants

    settings = load_settings(model=model, data_dir=resolve_path(data_dir))
    has_cuda = cuda_available()
    planning_gpu = gpu_memory is not None or (has_cuda and settings.device != "cpu")
    cache_dir = settings.hf_home / "hub" if settings.hf_home else Path(constants.HF_HUB_CACHE)
    chosen = resolve_model(resolve_auto(settings.model, planning_gpu), settings.models_dir)
    memory = memory_report(settings, chosen, cache_dir, gpu_memory)
    speed = speed_report(has_cuda)
    if as_json:
        report = {"model": chosen.name, "demo": chosen.is_demo, "cuda": has_cuda, **memory, **speed}
        typer.echo(json.dumps(report, indent=2))
        return
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
        download_gb = model_size(chosen, cache_dir).params * BF16 / 1e9
        table.add_row("Note", f"{chosen.name} is not cached; the first job downloads it (~{download_gb:.0f} GB)")
    plan = memory["memory_plan"]
    peak = f" (~{plan['estimated_peak_gb']:.1f} GB)" if plan["estimated_peak_gb"] is not None else ""
    table.add_row("Memory plan", f"{plan['name']}{peak}: {plan['reason']}")
    for row in memory["plans"]:
        state = "fits" if row["fits"] else ("too big" if row["available"] else row["note"])
        table.add_row(f"  {row['name']}", f"{row['estimated_peak_gb']:.1f} GB estimated peak: {state}")
    backends = speed["attention_backends"]
    table.add_row(
        "Attention (QIE_ATTENTION)",
        ", ".join(f"{name}{'' if ok else ' (not installed)'}" for name, ok in backends.items()),
    )
    table.add_row(
        "Compile (QIE_COMPILE)", ("available: " if speed["compile"]["available"] else "no: ") + speed["compile"]["note"]
    )
    table.add_row("Service", f"http://{settings.host}:{settings.port}/")
    console.print(table)
